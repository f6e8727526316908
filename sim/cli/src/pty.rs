//! `sim run --uart NAME=pty`: a UART on a pseudo-terminal. The master side stays here: what the
//! UART sends is written to it, what a terminal on the slave side (`screen /dev/pts/N 115200`,
//! `picocom`, a test) types arrives on the UART's RX line. The slave is put in raw mode, so the
//! bytes pass through unchanged.

use std::fs::File;
use std::io::Read;
use std::os::fd::FromRawFd;

/// An open pseudo-terminal: its master, and the slave's path for the user.
pub struct Pty {
    pub master: File,
    pub path: String,
}

fn last_error(what: &str) -> std::io::Error {
    let e = std::io::Error::last_os_error();
    std::io::Error::new(e.kind(), format!("{what}: {e}"))
}

impl Pty {
    pub fn open() -> std::io::Result<Pty> {
        // SAFETY: plain libc calls on a descriptor this function owns; ptsname_r writes at most
        // `buf.len()` bytes.
        unsafe {
            let fd = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
            if fd < 0 {
                return Err(last_error("posix_openpt"));
            }
            let master = File::from_raw_fd(fd);
            if libc::grantpt(fd) != 0 || libc::unlockpt(fd) != 0 {
                return Err(last_error("grantpt/unlockpt"));
            }
            let mut buf = [0 as libc::c_char; 128];
            if libc::ptsname_r(fd, buf.as_mut_ptr(), buf.len()) != 0 {
                return Err(last_error("ptsname_r"));
            }
            let path = std::ffi::CStr::from_ptr(buf.as_ptr())
                .to_string_lossy()
                .into_owned();
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) == 0 {
                libc::cfmakeraw(&mut t);
                libc::tcsetattr(fd, libc::TCSANOW, &t);
            }
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
                return Err(last_error("fcntl"));
            }
            Ok(Pty { master, path })
        }
    }

    /// Another handle on the master (for the console's output).
    pub fn writer(&self) -> std::io::Result<File> {
        self.master.try_clone()
    }

    /// What the terminal typed since the last call (nothing when no terminal is attached).
    pub fn input(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            match self.master.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                // EAGAIN: nothing typed; EIO: no terminal attached yet (or it left).
                Err(_) => break,
            }
        }
        out
    }
}
