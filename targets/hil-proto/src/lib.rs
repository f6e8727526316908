//! The target-mode protocol: what the host and the HIL firmware say to each other over RTT
//! (docs/target.md), and how each message is framed on the byte stream.
//!
//! A frame is `COBS(postcard(message) ++ CRC-32C(postcard bytes), little-endian) ++ 0x00`: the
//! zero byte delimits frames, so a reader that loses bytes or meets a corrupted frame
//! resynchronises at the next zero; the CRC catches corruption that COBS does not. Used by the
//! firmware (no_std, fixed buffers) and by the host (`sim::rtt`).

#![no_std]

use serde::{de::DeserializeOwned, Deserialize, Serialize};

pub mod devices;

/// Protocol version, sent in [`Up::Hello`].
pub const VERSION: u16 = 3;

/// The largest encoded frame (delimiter included) either side sends.
pub const MAX_FRAME: usize = 256;

/// Words of `rt-twin:stack/aided-ekf`'s `aiding-frame` record in linear memory (84 bytes):
/// what [`aiding_frame`] lays out.
pub const SENSOR_WORDS: usize = 21;

/// Words of falcon-cascade's `vehicle-state`.
pub const STATE_WORDS: usize = 14;

/// One period's sensors as the `aiding-frame` record (wit/stack/stack.wit) lies in
/// linear memory under the canonical ABI, so the firmware copies it in and passes its
/// address: imu (6 x f32), dt-s, then four options, each a discriminant byte padded to the
/// payload's 4-byte alignment and the payload (zero when absent): position-ned (vec3),
/// velocity-ned (vec3), baro-alt-m (f32), mag-body (vec3). GNSS gives position and velocity
/// together.
pub fn aiding_frame(
    imu: [f32; 6],
    dt: f32,
    gnss: Option<([f32; 3], [f32; 3])>,
    baro: Option<f32>,
    mag: Option<[f32; 3]>,
) -> [u32; SENSOR_WORDS] {
    let mut w = [0u32; SENSOR_WORDS];
    for (i, x) in imu.iter().enumerate() {
        w[i] = x.to_bits();
    }
    w[6] = dt.to_bits();
    let mut put = |at: usize, payload: Option<&[f32]>| {
        if let Some(p) = payload {
            w[at] = 1;
            for (i, x) in p.iter().enumerate() {
                w[at + 1 + i] = x.to_bits();
            }
        }
    };
    put(7, gnss.as_ref().map(|g| &g.0[..]));
    put(11, gnss.as_ref().map(|g| &g.1[..]));
    put(15, baro.as_ref().map(core::slice::from_ref));
    put(17, mag.as_ref().map(|m| &m[..]));
    w
}

/// Host to board (RTT down channel 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Down {
    /// Start a run: the control period, and the vehicle-state the estimator starts from
    /// (`aided-ekf#init`).
    Start {
        period_us: u32,
        state0: [f32; STATE_WORDS],
    },
    /// The sensor frame of control tick `tick` ([`aiding_frame`]) and the waypoint the
    /// controller flies to (north, east, down, yaw).
    Sensor {
        tick: u32,
        frame: [u32; SENSOR_WORDS],
        waypoint: [f32; 4],
    },
    /// Full-system firmware ([`Up::Hello::devices`]): the waypoint in force from control tick
    /// `tick` (north, east, down, yaw); the sensors come from the devices, not the link.
    Setpoint { tick: u32, waypoint: [f32; 4] },
    /// End the run: motors to zero.
    Stop,
}

/// Board to host (RTT up channel 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Up {
    /// The firmware is up (both cores when `cores` is 2), hosting the flight module whose
    /// `.wasm` has CRC-32C `flight_crc`.
    Hello {
        version: u16,
        cores: u8,
        flight_crc: u32,
        /// The full-system build: sensors read from the devices on the buses, motors through
        /// the IO MCU ([`devices`]); else the sensor frames come down the link.
        devices: bool,
    },
    /// What control tick `tick` did.
    Tick {
        tick: u32,
        /// The vehicle-state the estimator (CM4) computed.
        state: [f32; STATE_WORDS],
        /// The stages' (CM7) motor commands.
        motors: [f32; 4],
        /// The attitude-setpoint (5) and rate-setpoint (4) the stages computed.
        setpoints: [f32; 9],
        /// DWT CYCCNT cycles of the estimator's calls on the CM4 (allocator and export) and
        /// of the four stages' on the CM7.
        m4_cycles: u32,
        m7_cycles: u32,
        /// From the CM4's MU write to the CM7's MU interrupt, in ns (GPT2 at 24 MHz).
        mu_latency_ns: u32,
    },
    /// Full-system firmware, after each [`Up::Tick`]: the CM7's DWT cycles from the IMU's
    /// data-ready to the frame built (the sensor drivers, bus waits included) plus the IO
    /// MCU exchange, the cycles spent in interrupt handlers since the previous report, and
    /// how many interrupts they were.
    Load {
        tick: u32,
        driver_cycles: u32,
        irq_cycles: u32,
        irqs: u32,
    },
    /// Something the firmware reports (a fault, an overrun, a stalled link).
    Event { tick: u32, code: Event },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A core's call did not finish within the period.
    Overrun { core: u8 },
    /// No sensor frame arrived within the period: the motors were commanded to zero.
    LinkStalled,
    /// A down frame failed its check and was dropped.
    BadFrame,
    /// The run ended (after [`Down::Stop`]): motors are at zero.
    Stopped,
    /// Full-system firmware: a device did not answer as its part should ([`devices::Device`]).
    Device { device: u8 },
}

/// Why a frame could not be made or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The message does not fit [`MAX_FRAME`] (encoding) or a frame grew past it (decoding).
    TooLong,
    /// Not valid COBS.
    Cobs,
    /// The CRC does not match the contents.
    Crc,
    /// Valid bytes that are not a message of this protocol.
    Message,
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            FrameError::TooLong => "frame longer than the protocol's maximum",
            FrameError::Cobs => "not a COBS frame",
            FrameError::Crc => "CRC mismatch",
            FrameError::Message => "not a message of this protocol",
        })
    }
}

const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// CRC-32C (Castagnoli, the checksum of every frame): also how `Up::Hello::flight_crc` names
/// the `.wasm` a firmware image was built from.
pub fn crc32c(bytes: &[u8]) -> u32 {
    CRC.checksum(bytes)
}

/// Encode `msg` as one frame into `out`; returns the frame's length (delimiter included).
pub fn encode<T: Serialize>(msg: &T, out: &mut [u8; MAX_FRAME]) -> Result<usize, FrameError> {
    let mut raw = [0u8; MAX_FRAME];
    let used = postcard::to_slice_crc32(msg, &mut raw, CRC.digest())
        .map_err(|_| FrameError::TooLong)?
        .len();
    // COBS adds one byte per 254 and the delimiter one more.
    if used + used / 254 + 2 > MAX_FRAME {
        return Err(FrameError::TooLong);
    }
    let n = cobs::encode(&raw[..used], &mut out[..]);
    out[n] = 0;
    Ok(n + 1)
}

/// Decode one frame's bytes (without its delimiter).
pub fn decode<T: DeserializeOwned>(frame: &[u8]) -> Result<T, FrameError> {
    if frame.len() > MAX_FRAME {
        return Err(FrameError::TooLong);
    }
    let mut raw = [0u8; MAX_FRAME];
    let n = cobs::decode(frame, &mut raw)
        .map_err(|_| FrameError::Cobs)?
        .frame_size();
    if n < 4 {
        return Err(FrameError::Crc);
    }
    let (body, crc) = raw[..n].split_at(n - 4);
    if CRC.checksum(body).to_le_bytes() != crc {
        return Err(FrameError::Crc);
    }
    postcard::from_bytes(body).map_err(|_| FrameError::Message)
}

/// Splits a byte stream into frames (at the zero delimiters) and decodes them; fixed buffer,
/// no allocation.
pub struct Decoder {
    buf: [u8; MAX_FRAME],
    len: usize,
    /// Dropping bytes until the next delimiter (after an over-long frame).
    skipping: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            buf: [0; MAX_FRAME],
            len: 0,
            skipping: false,
        }
    }
}

impl Decoder {
    /// Take one byte; at a frame's end, the message or why the frame is bad.
    pub fn push<T: DeserializeOwned>(&mut self, b: u8) -> Option<Result<T, FrameError>> {
        if b == 0 {
            let n = core::mem::take(&mut self.len);
            if core::mem::take(&mut self.skipping) {
                return Some(Err(FrameError::TooLong));
            }
            if n == 0 {
                return None;
            }
            return Some(decode(&self.buf[..n]));
        }
        if self.skipping {
            return None;
        }
        if self.len == MAX_FRAME {
            self.skipping = true;
            self.len = 0;
            return None;
        }
        self.buf[self.len] = b;
        self.len += 1;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick() -> Up {
        Up::Tick {
            tick: 7,
            state: core::array::from_fn(|i| i as f32 * 0.5 - 1.0),
            motors: [0.5, 0.25, f32::NAN, 0.0],
            setpoints: core::array::from_fn(|i| i as f32 * -0.25),
            m4_cycles: 91_172,
            m7_cycles: 4_854,
            mu_latency_ns: 2_070,
        }
    }

    fn frames(msgs: &[Up]) -> ([u8; 4 * MAX_FRAME], usize) {
        let mut stream = [0u8; 4 * MAX_FRAME];
        let mut at = 0;
        for m in msgs {
            let mut f = [0u8; MAX_FRAME];
            let n = encode(m, &mut f).unwrap();
            stream[at..at + n].copy_from_slice(&f[..n]);
            at += n;
        }
        (stream, at)
    }

    fn bits(u: &Up) -> Option<[u32; 4]> {
        match u {
            Up::Tick { motors, .. } => Some(motors.map(f32::to_bits)),
            _ => None,
        }
    }

    #[test]
    fn frames_round_trip_and_hold_no_zero_inside() {
        let sensor = Down::Sensor {
            tick: 3,
            frame: [0; SENSOR_WORDS],
            waypoint: [0.0, 0.0, -5.0, 0.0],
        };
        let mut f = [0u8; MAX_FRAME];
        let n = encode(&sensor, &mut f).unwrap();
        assert_eq!(f[n - 1], 0);
        assert!(
            f[..n - 1].iter().all(|&b| b != 0),
            "only the delimiter is zero"
        );
        assert_eq!(decode::<Down>(&f[..n - 1]), Ok(sensor));
        let (s, len) = frames(&[tick()]);
        let back: Up = decode(&s[..len - 1]).unwrap();
        assert_eq!(bits(&back), bits(&tick()), "NaN motors survive bit for bit");
    }

    #[test]
    fn the_largest_messages_fit_a_frame() {
        // Varints at their longest (5 bytes a u32), every float a NaN.
        let down = Down::Sensor {
            tick: u32::MAX,
            frame: [u32::MAX; SENSOR_WORDS],
            waypoint: [f32::NAN; 4],
        };
        let up = Up::Tick {
            tick: u32::MAX,
            state: [f32::NAN; STATE_WORDS],
            motors: [f32::NAN; 4],
            setpoints: [f32::NAN; 9],
            m4_cycles: u32::MAX,
            m7_cycles: u32::MAX,
            mu_latency_ns: u32::MAX,
        };
        let load = Up::Load {
            tick: u32::MAX,
            driver_cycles: u32::MAX,
            irq_cycles: u32::MAX,
            irqs: u32::MAX,
        };
        let setpoint = Down::Setpoint {
            tick: u32::MAX,
            waypoint: [f32::NAN; 4],
        };
        let mut f = [0u8; MAX_FRAME];
        assert!(encode(&down, &mut f).is_ok());
        assert!(encode(&up, &mut f).is_ok());
        assert!(encode(&load, &mut f).is_ok());
        assert!(encode(&setpoint, &mut f).is_ok());
    }

    #[test]
    fn the_aiding_frame_puts_each_option_after_its_discriminant() {
        let w = aiding_frame(
            [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            0.002,
            Some(([7.0, 8.0, 9.0], [10.0, 11.0, 12.0])),
            None,
            Some([13.0, 14.0, 15.0]),
        );
        let f = |x: f32| x.to_bits();
        assert_eq!(w[..7], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.002].map(f));
        assert_eq!(w[7..11], [1, f(7.0), f(8.0), f(9.0)]);
        assert_eq!(w[11..15], [1, f(10.0), f(11.0), f(12.0)]);
        assert_eq!(
            w[15..17],
            [0, 0],
            "baro absent: discriminant 0, payload zero"
        );
        assert_eq!(w[17..21], [1, f(13.0), f(14.0), f(15.0)]);
    }

    #[test]
    fn a_corrupted_frame_is_reported_and_the_next_one_is_read() {
        let hello = Up::Hello {
            version: VERSION,
            cores: 2,
            flight_crc: 0xE306_9283,
            devices: true,
        };
        let (mut s, len) = frames(&[tick(), hello.clone()]);
        s[5] ^= 0x10; // a bit flip inside the first frame
        let mut d = Decoder::default();
        let out: [Option<Result<Up, FrameError>>; 2] = {
            let mut got = [None, None];
            let mut k = 0;
            for &b in &s[..len] {
                if let Some(r) = d.push::<Up>(b) {
                    got[k] = Some(r);
                    k += 1;
                }
            }
            got
        };
        assert!(matches!(
            out[0],
            Some(Err(FrameError::Crc | FrameError::Cobs))
        ));
        assert_eq!(out[1], Some(Ok(hello)));
    }

    #[test]
    fn an_over_long_frame_is_dropped_whole() {
        let mut d = Decoder::default();
        let mut seen = None;
        for _ in 0..MAX_FRAME + 10 {
            assert!(d.push::<Up>(0x55).is_none());
        }
        if let Some(r) = d.push::<Up>(0) {
            seen = Some(r);
        }
        assert_eq!(seen, Some(Err(FrameError::TooLong)));
        let (s, len) = frames(&[tick()]);
        let mut last = None;
        for &b in &s[..len] {
            if let Some(r) = d.push::<Up>(b) {
                last = Some(r);
            }
        }
        assert!(matches!(last, Some(Ok(Up::Tick { tick: 7, .. }))));
    }
}
