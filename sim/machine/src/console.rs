//! The UARTs' output as the user sees it: each LPUART's transmitted bytes kept per UART,
//! echoed line by line to stdout with the UART's name in front (as Renode's UART analyzer shows
//! them), and written raw to a file when one is connected (`sim run --uart NAME=FILE`).

use std::collections::BTreeMap;
use std::io::Write;

use crate::time::Ps;

/// A line as text for the terminal: UTF-8 as is, a trailing CR dropped, other control bytes
/// (and bytes that are not UTF-8) as `\xNN`.
fn shown(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut out = String::new();
    for chunk in line.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() && c != '\t' {
                out.push_str(&format!("\\x{:02x}", c as u32));
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[derive(Default)]
pub struct Console {
    echo: bool,
    /// Every byte each UART sent.
    logs: BTreeMap<String, Vec<u8>>,
    /// The line being assembled per UART (echo).
    line: BTreeMap<String, Vec<u8>>,
    sinks: BTreeMap<String, std::fs::File>,
    /// UARTs wired to a device (binary links): kept and written to files, not echoed.
    links: std::collections::BTreeSet<String>,
}

impl Console {
    pub fn new(echo: bool) -> Console {
        Console {
            echo,
            ..Console::default()
        }
    }

    /// `uart` carries a device's binary protocol: do not echo it.
    pub fn link(&mut self, uart: &str) {
        self.links.insert(uart.to_string());
    }

    pub fn connect(&mut self, uart: &str, file: std::fs::File) {
        self.sinks.insert(uart.to_string(), file);
    }

    /// Take the words the UARTs sent (a 9- or 10-bit word keeps its low 8 bits).
    pub fn take(&mut self, words: Vec<(String, Ps, u16)>) -> std::io::Result<()> {
        for (uart, _, w) in words {
            let b = w as u8;
            self.logs.entry(uart.clone()).or_default().push(b);
            if let Some(f) = self.sinks.get_mut(&uart) {
                f.write_all(&[b])?;
            }
            if self.echo && !self.links.contains(&uart) {
                let line = self.line.entry(uart.clone()).or_default();
                if b == b'\n' {
                    println!(
                        "[{uart}] {}",
                        String::from_utf8_lossy(line).trim_end_matches('\r')
                    );
                    line.clear();
                } else {
                    line.push(b);
                }
            }
        }
        Ok(())
    }

    /// Echo what is left of each line (the end of a run).
    pub fn flush(&mut self) {
        for (uart, line) in &mut self.line {
            if !line.is_empty() {
                println!("[{uart}] {}", shown(line));
                line.clear();
            }
        }
        for f in self.sinks.values_mut() {
            let _ = f.flush();
        }
    }

    /// Everything `uart` has sent so far, as text.
    pub fn text(&self, uart: &str) -> String {
        self.logs
            .get(uart)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_show_control_bytes_escaped() {
        assert_eq!(shown(b"ok \xc3\xa9\r"), "ok \u{e9}");
        assert_eq!(shown(b"a\x01\tb\xff"), "a\\x01\tb\\xff");
    }
}
