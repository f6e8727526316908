//! Small f32 vector and quaternion helpers (no min/max: synth declines them).

pub type V3 = [f32; 3];
/// Quaternion (w, x, y, z).
pub type Q = [f32; 4];

pub fn clamp(x: f32, lo: f32, hi: f32) -> f32 {
    if x < lo {
        lo
    } else if x > hi {
        hi
    } else {
        x
    }
}

pub fn add(a: V3, b: V3) -> V3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

pub fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub fn scale(a: V3, k: f32) -> V3 {
    [a[0] * k, a[1] * k, a[2] * k]
}

pub fn dot(a: V3, b: V3) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

pub fn norm(a: V3) -> f32 {
    libm::sqrtf(dot(a, a))
}

/// Scale `a` down to length `max` when longer.
pub fn limit(a: V3, max: f32) -> V3 {
    let n = norm(a);
    if n > max && n > 0.0 {
        scale(a, max / n)
    } else {
        a
    }
}

pub fn qmul(a: Q, b: Q) -> Q {
    [
        a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3],
        a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2],
        a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1],
        a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0],
    ]
}

pub fn qconj(a: Q) -> Q {
    [a[0], -a[1], -a[2], -a[3]]
}

pub fn qnormalize(a: Q) -> Q {
    let n = libm::sqrtf(a[0] * a[0] + a[1] * a[1] + a[2] * a[2] + a[3] * a[3]);
    if n > 0.0 {
        [a[0] / n, a[1] / n, a[2] / n, a[3] / n]
    } else {
        [1.0, 0.0, 0.0, 0.0]
    }
}

/// Rotate body vector `v` into the world frame by `q` (body -> world).
pub fn rotate(q: Q, v: V3) -> V3 {
    let p = qmul(qmul(q, [0.0, v[0], v[1], v[2]]), qconj(q));
    [p[1], p[2], p[3]]
}

/// The shortest rotation taking unit vector `a` to unit vector `b`.
pub fn q_between(a: V3, b: V3) -> Q {
    let c = cross(a, b);
    let w = 1.0 + dot(a, b);
    if w < 1e-6 {
        // Opposite vectors: half a turn about any axis perpendicular to a.
        let axis = if a[0] * a[0] < 0.5 {
            cross(a, [1.0, 0.0, 0.0])
        } else {
            cross(a, [0.0, 1.0, 0.0])
        };
        let n = norm(axis);
        return [0.0, axis[0] / n, axis[1] / n, axis[2] / n];
    }
    qnormalize([w, c[0], c[1], c[2]])
}

/// A rotation of `angle` radians about the world z axis, as (cos, sin) of the half angle given.
pub fn q_yaw(cos_half: f32, sin_half: f32) -> Q {
    [cos_half, 0.0, 0.0, sin_half]
}
