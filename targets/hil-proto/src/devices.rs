//! The conventions the full-system firmware and the host's device feeds share: where the local
//! NED frame is anchored on the earth, how altitude maps to pressure, how a motor command maps
//! to the IO MCU's pulse width, and the devices' numbers in [`crate::Event::Device`]. The
//! host turns the vehicle's truth into what the parts measure with these; the firmware turns
//! the parts' readings back. Arithmetic in f64 through `libm`, so both sides compute the same
//! bits whatever the host's libm.

/// The origin of the local NED frame (the project's home: a field near Zurich), degrees and
/// metres above mean sea level.
pub const HOME_LAT_DEG: f64 = 47.397_742;
pub const HOME_LON_DEG: f64 = 8.545_594;
pub const HOME_ALT_M: f64 = 488.0;
/// The sphere the local frame is projected from (WGS-84's equatorial radius; a flat-earth
/// projection about home, good to millimetres over a flight's kilometres).
pub const EARTH_RADIUS_M: f64 = 6_378_137.0;

/// Sea-level pressure (Pa) and the barometric formula's constants (the 1976 standard
/// atmosphere's troposphere: p = P0 (1 - K h)^N, h in metres above mean sea level).
pub const P0_PA: f64 = 101_325.0;
const ISA_K: f64 = 2.255_77e-5;
const ISA_N: f64 = 5.255_88;

/// The barometer's die temperature the host reports (degC).
pub const BARO_TEMP_C: f64 = 25.0;

/// Motor command 0 (idle) and 1 (full) as the IO MCU's pulse width (us).
pub const PWM_MIN_US: u16 = 1000;
pub const PWM_MAX_US: u16 = 2000;

/// The GNSS receiver's UART baud (u-blox's fastest standard rate: a 100-byte NAV-PVT in ~1.1
/// ms, inside a control period).
pub const GNSS_BAUD: u32 = 921_600;

/// Devices in [`crate::Event::Device`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Device {
    Imu = 1,
    Baro = 2,
    Mag = 3,
    Io = 4,
}

fn rad(deg: f64) -> f64 {
    deg * core::f64::consts::PI / 180.0
}

/// Latitude, longitude (deg) and altitude (m AMSL) of a local NED position.
pub fn geodetic(ned: [f64; 3]) -> (f64, f64, f64) {
    let lat = HOME_LAT_DEG + ned[0] / EARTH_RADIUS_M * 180.0 / core::f64::consts::PI;
    let lon = HOME_LON_DEG
        + ned[1] / (EARTH_RADIUS_M * libm::cos(rad(HOME_LAT_DEG))) * 180.0 / core::f64::consts::PI;
    (lat, lon, HOME_ALT_M - ned[2])
}

/// The local NED position of a latitude, longitude (deg) and altitude (m AMSL).
pub fn ned(lat: f64, lon: f64, alt: f64) -> [f64; 3] {
    [
        rad(lat - HOME_LAT_DEG) * EARTH_RADIUS_M,
        rad(lon - HOME_LON_DEG) * EARTH_RADIUS_M * libm::cos(rad(HOME_LAT_DEG)),
        HOME_ALT_M - alt,
    ]
}

/// Static pressure (Pa) at `alt` metres above home.
pub fn pressure(alt: f64) -> f64 {
    P0_PA * libm::pow(1.0 - ISA_K * (HOME_ALT_M + alt), ISA_N)
}

/// Metres above home at static pressure `p` (Pa).
pub fn altitude(p: f64) -> f64 {
    (1.0 - libm::pow(p / P0_PA, 1.0 / ISA_N)) / ISA_K - HOME_ALT_M
}

/// A motor command (0..1, clamped) as a pulse width (us, rounded).
pub fn pwm_us(command: f32) -> u16 {
    let c = if command.is_nan() {
        0.0
    } else {
        command.clamp(0.0, 1.0)
    };
    let span = f32::from(PWM_MAX_US - PWM_MIN_US);
    PWM_MIN_US + libm::roundf(c * span) as u16
}

/// The motor command a pulse width stands for (0 when there are no pulses).
pub fn command(pwm_us: u16) -> f32 {
    if pwm_us < PWM_MIN_US {
        return 0.0;
    }
    f32::from(pwm_us.min(PWM_MAX_US) - PWM_MIN_US) / f32::from(PWM_MAX_US - PWM_MIN_US)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_atmosphere_known_answers() {
        // ISA tables: 101 325 Pa at sea level, 89 875 Pa at 1000 m, 79 495 Pa at 2000 m.
        let at_msl = |h: f64| pressure(h - HOME_ALT_M);
        assert!((at_msl(0.0) - 101_325.0).abs() < 1e-9);
        assert!(
            (at_msl(1000.0) - 89_875.0).abs() < 2.0,
            "{}",
            at_msl(1000.0)
        );
        assert!(
            (at_msl(2000.0) - 79_495.0).abs() < 2.0,
            "{}",
            at_msl(2000.0)
        );
        for h in [-20.0, 0.0, 3.5, 120.0] {
            assert!((altitude(pressure(h)) - h).abs() < 1e-6);
        }
    }

    #[test]
    fn a_metre_north_is_a_ninth_of_a_micro_degree_and_back() {
        // 1 m / 6 378 137 m in degrees = 8.983e-6 deg.
        let (lat, lon, alt) = geodetic([1.0, 0.0, -2.0]);
        assert!((lat - HOME_LAT_DEG - 8.983_152e-6).abs() < 1e-12, "{lat}");
        assert_eq!((lon, alt), (HOME_LON_DEG, HOME_ALT_M + 2.0));
        let back = ned(lat, lon, alt);
        assert!((back[0] - 1.0).abs() < 1e-9 && back[1] == 0.0 && back[2] == -2.0);
        let (_, lon, _) = geodetic([0.0, 100.0, 0.0]);
        let east = ned(HOME_LAT_DEG, lon, HOME_ALT_M)[1];
        assert!((east - 100.0).abs() < 1e-9);
    }

    #[test]
    fn motor_commands_and_pulse_widths() {
        assert_eq!(pwm_us(0.0), 1000);
        assert_eq!(pwm_us(0.5), 1500);
        assert_eq!(pwm_us(1.7), 2000);
        assert_eq!(pwm_us(f32::NAN), 1000);
        assert_eq!(command(1250), 0.25);
        assert_eq!(command(0), 0.0);
    }
}
