//! The P3 async ABI meld lowers to (reference/pulseengine.md section 2; meld's
//! `meld-core/src/p3_async.rs` for the per-intrinsic semantics): import module, intrinsic
//! names, result codes, the packed callback protocol and the event codes.

/// The import module of every host intrinsic.
pub const MODULE: &str = "pulseengine:async";

/// Intrinsic results: a count (>= 0) or one of these.
pub mod result {
    pub const CLOSED: i32 = -1;
    pub const INVALID_HANDLE: i32 = -2;
    pub const OOM: i32 = -3;
    pub const CANCELLED: i32 = -4;
    pub const PENDING: i32 = -5;
    pub const RUNTIME: i32 = -6;
}

/// Event codes passed as the first argument of `[callback]`.
pub mod event {
    pub const NONE: u32 = 0;
    pub const SUBTASK: u32 = 1;
    pub const STREAM_READ: u32 = 2;
    pub const STREAM_WRITE: u32 = 3;
    pub const FUTURE_READ: u32 = 4;
    pub const FUTURE_WRITE: u32 = 5;
    pub const CANCELLED: u32 = 6;
}

/// What `[async-lift]` or `[callback]` returned: `code = p & 0xF`, `payload = p >> 4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Exit,
    Yield,
    /// Wait for an event on this waitable set.
    Wait(u32),
    /// Take an event from this waitable set if one is there, else be called with NONE.
    Poll(u32),
}

impl Code {
    pub fn decode(p: i32) -> Result<Code, String> {
        let p = p as u32;
        let payload = p >> 4;
        match p & 0xF {
            0 => Ok(Code::Exit),
            1 => Ok(Code::Yield),
            2 => Ok(Code::Wait(payload)),
            3 => Ok(Code::Poll(payload)),
            c => Err(format!(
                "callback returned {p:#x}: code {c} is none of EXIT 0, YIELD 1, WAIT 2, POLL 3"
            )),
        }
    }

    pub fn encode(self) -> i32 {
        (match self {
            Code::Exit => 0,
            Code::Yield => 1,
            Code::Wait(s) => 2 | (s << 4),
            Code::Poll(s) => 3 | (s << 4),
        }) as i32
    }
}

/// The export names of an async-lifted function `name`.
pub fn lift_export(name: &str) -> String {
    format!("[async-lift]{name}")
}

pub fn callback_export(name: &str) -> String {
    format!("[callback][async-lift]{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_codes_round_trip_and_bad_codes_are_named() {
        for c in [
            Code::Exit,
            Code::Yield,
            Code::Wait(7),
            Code::Poll(0x0FFF_FFFF),
        ] {
            assert_eq!(Code::decode(c.encode()), Ok(c));
        }
        assert_eq!(Code::decode(0x32), Ok(Code::Wait(3)));
        assert!(Code::decode(0x15).unwrap_err().contains("code 5"));
    }
}
