//! The host side of RTT (SEGGER Real-Time Transfer) over a memory-access trait: the same code
//! reads and writes the control block of a real board (through a debug probe) and of the twin
//! (the emulated core's memory), so target mode runs in CI against the twin exactly as it runs
//! against hardware.
//!
//! Control block layout (SEGGER RTT, as probe-rs's `rtt` module reads it): the 16-byte ID
//! "SEGGER RTT" (NUL-padded), `MaxNumUpBuffers` and `MaxNumDownBuffers` (i32), then the up and
//! the down channel descriptors, 24 bytes each: name pointer, buffer pointer, size, write
//! offset, read offset, flags. Up channels: the target writes and moves WrOff, the host reads and
//! moves RdOff; down channels the other way round. A ring is full when WrOff + 1 == RdOff
//! (mod size): one byte always stays free.

use hil_proto::{Decoder, FrameError, MAX_FRAME};
use serde::{de::DeserializeOwned, Serialize};

use twin_machine::machine::Machine;

/// Reading and writing the target's memory: a probe's core, or an emulated core.
pub trait Memory {
    fn read(&mut self, addr: u32, buf: &mut [u8]) -> Result<(), String>;
    fn write(&mut self, addr: u32, data: &[u8]) -> Result<(), String>;
}

/// An emulated core's view of memory.
pub struct CoreMemory<'a> {
    pub machine: &'a mut Machine,
    pub core: usize,
}

impl Memory for CoreMemory<'_> {
    fn read(&mut self, addr: u32, buf: &mut [u8]) -> Result<(), String> {
        self.machine
            .engine(self.core)
            .mem_read(u64::from(addr), buf)
            .map_err(|e| format!("read of {} bytes at {addr:#010x}: {e:?}", buf.len()))
    }

    fn write(&mut self, addr: u32, data: &[u8]) -> Result<(), String> {
        self.machine
            .engine(self.core)
            .mem_write(u64::from(addr), data)
            .map_err(|e| format!("write of {} bytes at {addr:#010x}: {e:?}", data.len()))
    }
}

/// The control block's ID.
pub const ID: [u8; 16] = *b"SEGGER RTT\0\0\0\0\0\0";
const DESC: u32 = 24;
const HEADER: u32 = 24;
/// More channels than this in a control block means it is not one.
const MAX_CHANNELS: u32 = 16;

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum RttError {
    #[error("no RTT control block (\"SEGGER RTT\") in {0}")]
    NotFound(String),
    #[error("RTT control block at {addr:#010x} is malformed: {why}")]
    Malformed { addr: u32, why: String },
    #[error("RTT channel {0} does not exist")]
    NoChannel(String),
    #[error("target memory: {0}")]
    Memory(String),
}

/// One channel's descriptor.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    /// Address of the descriptor.
    pub desc: u32,
    pub buffer: u32,
    pub size: u32,
}

/// An attached control block.
#[derive(Debug, Clone, PartialEq)]
pub struct Rtt {
    pub addr: u32,
    pub up: Vec<Channel>,
    pub down: Vec<Channel>,
}

fn word(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Rtt {
    /// Search `[start, start + len)` ranges for the control block (on 4-byte boundaries, where
    /// compilers place it) and attach to the first one found.
    pub fn find(mem: &mut dyn Memory, ranges: &[(u32, u32)]) -> Result<Rtt, RttError> {
        const CHUNK: u32 = 64 * 1024;
        for &(start, len) in ranges {
            let mut at = start;
            while at < start + len {
                let n = CHUNK.min(start + len - at);
                // Overlap by the ID's length so one that straddles two chunks is found.
                let want = (n + 16).min(start + len - at);
                let mut buf = vec![0u8; want as usize];
                mem.read(at, &mut buf).map_err(RttError::Memory)?;
                if let Some(i) = (0..buf.len().saturating_sub(15))
                    .step_by(4)
                    .find(|&i| buf[i..i + 16] == ID)
                {
                    return Rtt::attach(mem, at + i as u32);
                }
                at += n;
            }
        }
        let shown: Vec<String> = ranges
            .iter()
            .map(|(s, l)| format!("{s:#010x}..{:#010x}", s + l))
            .collect();
        Err(RttError::NotFound(shown.join(", ")))
    }

    /// Attach to the control block at `addr`, checking its ID and descriptors.
    pub fn attach(mem: &mut dyn Memory, addr: u32) -> Result<Rtt, RttError> {
        let bad = |why: String| RttError::Malformed { addr, why };
        let mut head = [0u8; HEADER as usize];
        mem.read(addr, &mut head).map_err(RttError::Memory)?;
        if head[..16] != ID {
            return Err(bad("no \"SEGGER RTT\" ID".into()));
        }
        let (n_up, n_down) = (word(&head, 16), word(&head, 20));
        if n_up > MAX_CHANNELS || n_down > MAX_CHANNELS {
            return Err(bad(format!("{n_up} up and {n_down} down channels")));
        }
        let mut descs = vec![0u8; ((n_up + n_down) * DESC) as usize];
        let end = u64::from(addr) + u64::from(HEADER) + descs.len() as u64;
        if end > 1 << 32 {
            return Err(bad(
                "the descriptors run past the end of the address space".into()
            ));
        }
        mem.read(addr + HEADER, &mut descs)
            .map_err(RttError::Memory)?;
        let channel = |i: u32| -> Result<Channel, RttError> {
            let at = (i * DESC) as usize;
            let (buffer, size) = (word(&descs, at + 4), word(&descs, at + 8));
            let (wr, rd) = (word(&descs, at + 12), word(&descs, at + 16));
            if size != 0 && (wr >= size || rd >= size) {
                return Err(bad(format!(
                    "channel descriptor {i}: offsets {wr}/{rd} outside a buffer of {size}"
                )));
            }
            if u64::from(buffer) + u64::from(size) > 1 << 32 {
                return Err(bad(format!(
                    "channel descriptor {i}: a buffer of {size} bytes at {buffer:#010x} runs past the end of the address space"
                )));
            }
            Ok(Channel {
                desc: addr + HEADER + i * DESC,
                buffer,
                size,
            })
        };
        Ok(Rtt {
            addr,
            up: (0..n_up).map(channel).collect::<Result<_, _>>()?,
            down: (n_up..n_up + n_down)
                .map(channel)
                .collect::<Result<_, _>>()?,
        })
    }

    fn offsets(mem: &mut dyn Memory, c: &Channel) -> Result<(u32, u32), RttError> {
        let mut b = [0u8; 8];
        mem.read(c.desc + 12, &mut b).map_err(RttError::Memory)?;
        let (wr, rd) = (word(&b, 0), word(&b, 4));
        if wr >= c.size || rd >= c.size {
            return Err(RttError::Memory(format!(
                "channel at {:#010x}: offsets {wr}/{rd} outside its {} bytes",
                c.desc, c.size
            )));
        }
        Ok((wr, rd))
    }

    /// Read what up channel `ch` holds into `out`; returns the count.
    pub fn read_up(
        &self,
        mem: &mut dyn Memory,
        ch: usize,
        out: &mut Vec<u8>,
    ) -> Result<usize, RttError> {
        let c = self
            .up
            .get(ch)
            .ok_or_else(|| RttError::NoChannel(format!("up {ch}")))?;
        let (wr, rd) = Rtt::offsets(mem, c)?;
        if wr == rd {
            return Ok(0);
        }
        // Contiguous first part, then the wrapped part.
        let first = if wr > rd { wr - rd } else { c.size - rd };
        let mut buf = vec![0u8; first as usize];
        mem.read(c.buffer + rd, &mut buf)
            .map_err(RttError::Memory)?;
        out.extend_from_slice(&buf);
        let mut n = first;
        if wr < rd && wr > 0 {
            let mut rest = vec![0u8; wr as usize];
            mem.read(c.buffer, &mut rest).map_err(RttError::Memory)?;
            out.extend_from_slice(&rest);
            n += wr;
        }
        mem.write(c.desc + 16, &wr.to_le_bytes())
            .map_err(RttError::Memory)?;
        Ok(n as usize)
    }

    /// Write as much of `data` as down channel `ch` has room for; returns the count.
    pub fn write_down(
        &self,
        mem: &mut dyn Memory,
        ch: usize,
        data: &[u8],
    ) -> Result<usize, RttError> {
        let c = self
            .down
            .get(ch)
            .ok_or_else(|| RttError::NoChannel(format!("down {ch}")))?;
        let (mut wr, rd) = Rtt::offsets(mem, c)?;
        // In u64: a descriptor's size may be anything up to 4 GiB.
        let free =
            ((u64::from(rd) + u64::from(c.size) - u64::from(wr) - 1) % u64::from(c.size)) as u32;
        let n = (data.len() as u32).min(free);
        let mut done = 0;
        while done < n {
            let run = (n - done).min(c.size - wr);
            mem.write(c.buffer + wr, &data[done as usize..(done + run) as usize])
                .map_err(RttError::Memory)?;
            done += run;
            wr = (wr + run) % c.size;
        }
        mem.write(c.desc + 12, &wr.to_le_bytes())
            .map_err(RttError::Memory)?;
        Ok(n as usize)
    }
}

/// Framed messages over RTT channel 0 (`hil_proto` frames): what the host code of target mode
/// uses, over a probe or the twin alike.
pub struct Link {
    pub rtt: Rtt,
    /// Bytes of frames not yet accepted by the down channel (it was full).
    pending: std::collections::VecDeque<u8>,
    decoder: Decoder,
    /// Bytes read from the up channel in all.
    pub received: u64,
}

impl Link {
    pub fn new(rtt: Rtt) -> Link {
        Link {
            rtt,
            pending: Default::default(),
            decoder: Decoder::default(),
            received: 0,
        }
    }

    /// Queue a message and write what fits now; returns the bytes still waiting.
    pub fn send<T: Serialize>(&mut self, mem: &mut dyn Memory, msg: &T) -> Result<usize, RttError> {
        let mut f = [0u8; MAX_FRAME];
        let n = hil_proto::encode(msg, &mut f)
            .map_err(|e| RttError::Memory(format!("message not sent: {e}")))?;
        self.pending.extend(&f[..n]);
        self.flush(mem)
    }

    /// Write queued bytes the down channel has room for; returns the bytes still waiting.
    pub fn flush(&mut self, mem: &mut dyn Memory) -> Result<usize, RttError> {
        let (a, b) = self.pending.as_slices();
        let mut written = self.rtt.write_down(mem, 0, a)?;
        if written == a.len() && !b.is_empty() {
            written += self.rtt.write_down(mem, 0, b)?;
        }
        self.pending.drain(..written);
        Ok(self.pending.len())
    }

    /// Read the up channel and decode every complete frame (bad ones as errors, in order).
    pub fn poll<T: DeserializeOwned>(
        &mut self,
        mem: &mut dyn Memory,
    ) -> Result<Vec<Result<T, FrameError>>, RttError> {
        let mut bytes = Vec::new();
        self.received += self.rtt.read_up(mem, 0, &mut bytes)? as u64;
        Ok(bytes
            .into_iter()
            .filter_map(|b| self.decoder.push(b))
            .collect())
    }
}

/// A target's RAM with an RTT control block, and the target's side of the rings, for tests
/// of the host side (here and in `crate::`).
#[cfg(test)]
pub(crate) mod fake {
    use super::{Memory, ID};

    /// RAM at 0x2000_0000.
    pub struct Ram(pub Vec<u8>);

    pub const BASE: u32 = 0x2000_0000;

    impl Memory for Ram {
        fn read(&mut self, addr: u32, buf: &mut [u8]) -> Result<(), String> {
            let at = addr.checked_sub(BASE).ok_or("below RAM")? as usize;
            let src = self.0.get(at..at + buf.len()).ok_or("beyond RAM")?;
            buf.copy_from_slice(src);
            Ok(())
        }
        fn write(&mut self, addr: u32, data: &[u8]) -> Result<(), String> {
            let at = addr.checked_sub(BASE).ok_or("below RAM")? as usize;
            self.0
                .get_mut(at..at + data.len())
                .ok_or("beyond RAM")?
                .copy_from_slice(data);
            Ok(())
        }
    }

    /// A control block as a target lays it out: one up and one down channel of `up`/`down`
    /// bytes, at `cb` (offset in RAM).
    pub fn target(cb: usize, up: u32, down: u32) -> Ram {
        let mut ram = Ram(vec![0xA5; 0x4000]);
        let put =
            |ram: &mut Ram, at: usize, w: u32| ram.0[at..at + 4].copy_from_slice(&w.to_le_bytes());
        ram.0[cb..cb + 16].copy_from_slice(&ID);
        put(&mut ram, cb + 16, 1);
        put(&mut ram, cb + 20, 1);
        let (up_buf, down_buf) = (0x1000u32, 0x2000u32);
        for (i, (buf, size)) in [(up_buf, up), (down_buf, down)].into_iter().enumerate() {
            let d = cb + 24 + 24 * i;
            put(&mut ram, d, 0);
            put(&mut ram, d + 4, BASE + buf);
            put(&mut ram, d + 8, size);
            put(&mut ram, d + 12, 0);
            put(&mut ram, d + 16, 0);
            put(&mut ram, d + 20, 0);
        }
        ram
    }

    /// The target's side of the rings, written from the SEGGER semantics (not from the host
    /// code above): append to the up ring; take everything from the down ring.
    pub fn target_write_up(ram: &mut Ram, cb: usize, data: &[u8]) -> usize {
        let d = cb + 24;
        let w = |r: &Ram, at: usize| u32::from_le_bytes(r.0[at..at + 4].try_into().unwrap());
        let (buf, size, mut wr, rd) =
            (w(ram, d + 4), w(ram, d + 8), w(ram, d + 12), w(ram, d + 16));
        let mut n = 0;
        for &b in data {
            if (wr + 1) % size == rd {
                break;
            }
            ram.0[(buf - BASE + wr) as usize] = b;
            wr = (wr + 1) % size;
            n += 1;
        }
        ram.0[d + 12..d + 16].copy_from_slice(&wr.to_le_bytes());
        n
    }

    pub fn target_read_down(ram: &mut Ram, cb: usize) -> Vec<u8> {
        let d = cb + 48;
        let w = |r: &Ram, at: usize| u32::from_le_bytes(r.0[at..at + 4].try_into().unwrap());
        let (buf, size, wr, mut rd) =
            (w(ram, d + 4), w(ram, d + 8), w(ram, d + 12), w(ram, d + 16));
        let mut out = Vec::new();
        while rd != wr {
            out.push(ram.0[(buf - BASE + rd) as usize]);
            rd = (rd + 1) % size;
        }
        ram.0[d + 16..d + 20].copy_from_slice(&rd.to_le_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::fake::*;
    use super::*;
    use hil_proto::{Down, Up};

    #[test]
    fn the_control_block_is_found_and_checked() {
        let mut ram = target(0x3F0C, 128, 64);
        let rtt = Rtt::find(&mut ram, &[(BASE, 0x4000)]).unwrap();
        assert_eq!(rtt.addr, BASE + 0x3F0C);
        assert_eq!(rtt.up[0].size, 128);
        assert_eq!(rtt.down[0].buffer, BASE + 0x2000);
        let mut empty = Ram(vec![0; 0x4000]);
        let e = Rtt::find(&mut empty, &[(BASE, 0x4000)]).unwrap_err();
        assert!(e.to_string().contains("0x20000000..0x20004000"), "{e}");
        ram.0[0x3F0C + 16] = 200;
        let e = Rtt::attach(&mut ram, BASE + 0x3F0C).unwrap_err();
        assert!(e.to_string().contains("200 up"), "{e}");
    }

    #[test]
    fn a_frame_larger_than_the_free_space_crosses_a_full_buffer_intact() {
        // A 32-byte down ring (31 usable) and a sensor frame of over 100 bytes: four fills.
        let cb = 0x100;
        let mut ram = target(cb, 128, 32);
        let mut link = Link::new(Rtt::find(&mut ram, &[(BASE, 0x4000)]).unwrap());
        let msg = Down::Sensor {
            tick: 41,
            frame: std::array::from_fn(|i| (i as f32 * 0.25 + 0.1).to_bits()),
            waypoint: [1.0, -2.0, -5.0, 0.5],
        };
        let waiting = link.send(&mut ram, &msg).unwrap();
        assert!(waiting > 0, "the ring was too small for the whole frame");
        // The target drains; the host writes more; repeat until it is all across.
        let mut got = Vec::new();
        let mut rounds = 0;
        loop {
            got.extend(target_read_down(&mut ram, cb));
            if link.flush(&mut ram).unwrap() == 0 {
                got.extend(target_read_down(&mut ram, cb));
                break;
            }
            rounds += 1;
            assert!(rounds < 10);
        }
        assert!(rounds >= 2, "{rounds}");
        assert_eq!(got.last(), Some(&0));
        let back: Down = hil_proto::decode(&got[..got.len() - 1]).unwrap();
        assert_eq!(back, msg);
        // A full up ring: the target's writer stops at size - 1 bytes; the host reads them all,
        // across the wrap.
        let filler = vec![7u8; 200];
        assert_eq!(target_write_up(&mut ram, cb, &filler), 127);
        let mut out = Vec::new();
        assert_eq!(link.rtt.read_up(&mut ram, 0, &mut out).unwrap(), 127);
        assert_eq!(target_write_up(&mut ram, cb, &[1, 2, 3]), 3);
        out.clear();
        assert_eq!(link.rtt.read_up(&mut ram, 0, &mut out).unwrap(), 3);
        assert_eq!(out, [1, 2, 3], "wrapped around the ring's end");
    }

    #[test]
    fn a_corrupted_up_frame_is_reported_and_the_stream_goes_on() {
        let cb = 0x100;
        let mut ram = target(cb, 512, 64);
        let mut link = Link::new(Rtt::find(&mut ram, &[(BASE, 0x4000)]).unwrap());
        let tick = Up::Tick {
            tick: 9,
            state: [0.5; 14],
            motors: [0.5; 4],
            setpoints: [0.25; 9],
            m4_cycles: 91_172,
            m7_cycles: 4_854,
            mu_latency_ns: 2_070,
        };
        let mut f = [0u8; MAX_FRAME];
        let n = hil_proto::encode(&tick, &mut f).unwrap();
        let mut bad = f[..n].to_vec();
        bad[10] ^= 0x01;
        target_write_up(&mut ram, cb, &bad);
        target_write_up(&mut ram, cb, &f[..n]);
        let got: Vec<Result<Up, FrameError>> = link.poll(&mut ram).unwrap();
        assert_eq!(got.len(), 2);
        assert!(got[0].is_err(), "{:?}", got[0]);
        assert_eq!(got[1], Ok(tick));
        assert_eq!(link.received, 2 * n as u64);
    }
}
