//! A u-blox GNSS receiver on a UART, speaking UBX NAV-PVT (the Pixhawk 6X-RT's GPS port is
//! LPUART3, rt1176.md 5.3): the twin gives it a fix and it sends the frame, byte by byte at the
//! UART's baud, into the UART's receiver.
//!
//! Source (not in rt1176.md, from u-blox's receiver interface description, inferred): a UBX
//! frame is 0xB5 0x62, class, id, a little-endian 16-bit payload length, the payload, and an
//! 8-bit Fletcher checksum (CK_A, CK_B) over class, id, length and payload. NAV-PVT is class
//! 0x01, id 0x07, 92 bytes: iTOW u32 @0 (ms), year u16 @4, month, day, hour, min, sec u8 @6..10,
//! valid u8 @11, tAcc u32 @12, nano i32 @16, fixType u8 @20 (3 = 3D), flags u8 @21 (bit0
//! gnssFixOK), flags2 u8 @22, numSV u8 @23, lon i32 @24 and lat i32 @28 (1e-7 deg), height i32
//! @32 and hMSL i32 @36 (mm), hAcc u32 @40 and vAcc u32 @44 (mm), velN, velE, velD i32 @48..56
//! (mm/s), gSpeed i32 @60 (mm/s), headMot i32 @64 (1e-5 deg), sAcc u32 @68 (mm/s), headAcc u32
//! @72, pDOP u16 @76 (0.01), flags3 u8 @78, 5 reserved bytes, headVeh i32 @84, magDec i16 @88,
//! magAcc u16 @90.
//!
//! Not modelled: configuration messages (CFG-*) the receiver would answer, other messages, NMEA.

/// One position/velocity/time solution.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NavPvt {
    /// GPS time of week (ms).
    pub itow_ms: u32,
    /// Latitude and longitude (deg), height above mean sea level and above the ellipsoid (m).
    pub lat: f64,
    pub lon: f64,
    pub h_msl: f64,
    pub height: f64,
    /// Velocity NED (m/s).
    pub vel_ned: [f64; 3],
    /// Accuracy estimates (m, m/s).
    pub h_acc: f64,
    pub v_acc: f64,
    pub s_acc: f64,
    /// 3 = 3D fix, 0 = none.
    pub fix_type: u8,
    pub num_sv: u8,
}

/// The UBX frame of a NAV-PVT solution.
pub fn nav_pvt_frame(p: &NavPvt) -> Vec<u8> {
    let mut pl = [0u8; 92];
    let put = |pl: &mut [u8; 92], at: usize, b: &[u8]| pl[at..at + b.len()].copy_from_slice(b);
    let i = |x: f64| (x.round() as i32).to_le_bytes();
    let u = |x: f64| (x.round().max(0.0) as u32).to_le_bytes();
    put(&mut pl, 0, &p.itow_ms.to_le_bytes());
    pl[20] = p.fix_type;
    pl[21] = u8::from(p.fix_type >= 2);
    pl[23] = p.num_sv;
    put(&mut pl, 24, &i(p.lon * 1e7));
    put(&mut pl, 28, &i(p.lat * 1e7));
    put(&mut pl, 32, &i(p.height * 1e3));
    put(&mut pl, 36, &i(p.h_msl * 1e3));
    put(&mut pl, 40, &u(p.h_acc * 1e3));
    put(&mut pl, 44, &u(p.v_acc * 1e3));
    for k in 0..3 {
        put(&mut pl, 48 + 4 * k, &i(p.vel_ned[k] * 1e3));
    }
    let ground = p.vel_ned[0].hypot(p.vel_ned[1]);
    put(&mut pl, 60, &i(ground * 1e3));
    let heading = p.vel_ned[1]
        .atan2(p.vel_ned[0])
        .to_degrees()
        .rem_euclid(360.0);
    put(&mut pl, 64, &i(heading * 1e5));
    put(&mut pl, 68, &u(p.s_acc * 1e3));
    put(&mut pl, 76, &100u16.to_le_bytes());
    frame(0x01, 0x07, &pl)
}

/// A UBX frame: sync, class, id, length, payload, checksum.
pub fn frame(class: u8, id: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0xB5, 0x62, class, id];
    f.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    f.extend_from_slice(payload);
    let (mut a, mut b) = (0u8, 0u8);
    for &x in &f[2..] {
        a = a.wrapping_add(x);
        b = b.wrapping_add(a);
    }
    f.push(a);
    f.push(b);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nav_pvt_frame_has_its_header_fields_and_fletcher_checksum() {
        let p = NavPvt {
            itow_ms: 345_600_250,
            lat: 47.397_742,
            lon: 8.545_594,
            h_msl: 488.0,
            height: 535.5,
            vel_ned: [1.5, -0.25, 0.1],
            h_acc: 0.8,
            v_acc: 1.2,
            s_acc: 0.2,
            fix_type: 3,
            num_sv: 14,
        };
        let f = nav_pvt_frame(&p);
        assert_eq!(f.len(), 6 + 92 + 2);
        assert_eq!(&f[..6], &[0xB5, 0x62, 0x01, 0x07, 92, 0]);
        let pl = &f[6..98];
        let i32at = |k: usize| i32::from_le_bytes(pl[k..k + 4].try_into().unwrap());
        assert_eq!(i32at(28), 473_977_420);
        assert_eq!(i32at(24), 85_455_940);
        assert_eq!(i32at(36), 488_000);
        assert_eq!([i32at(48), i32at(52), i32at(56)], [1500, -250, 100]);
        assert_eq!((pl[20], pl[21], pl[23]), (3, 1, 14));
        // The checksum by hand of class 1, id 2, an empty payload: after each of 1, 2, 0, 0
        // a = 1, 3, 3, 3 and b = 1, 4, 7, 10.
        assert_eq!(frame(1, 2, &[]), [0xB5, 0x62, 1, 2, 0, 0, 3, 10]);
    }
}
