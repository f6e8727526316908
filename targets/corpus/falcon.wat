;; Falcon-shaped exports (reference/pulseengine.md section 4): canonical export names with
;; ':' '/' '@' '#', flat f32 records passed by value, a record passed by pointer into linear
;; memory with the result in a return area whose pointer is returned, and a trailing retptr.
;; f64-free (runs on both cores). The controller arithmetic is simple and fixed so that
;; tests/hosted.rs can compute the expected bits independently.
(module
  (memory (export "memory") 1 1)
  ;; mixer#mix(f32 x4) -> i32: quad-X mix of thrust t and torques (r, p, y) into four motor
  ;; commands clamped to [0, 1], packed as four bytes (round(255 * m)) in motor order 0..3.
  ;; (compare-and-select: synth 0.89 declines f32.min / f32.max)
  (func $clamp (param $x f32) (result f32)
    (local.set $x (select (f32.const 0) (local.get $x) (f32.lt (local.get $x) (f32.const 0))))
    (select (f32.const 1) (local.get $x) (f32.gt (local.get $x) (f32.const 1))))
  (func $byte (param f32) (result i32)
    (i32.trunc_sat_f32_u (f32.add (f32.mul (call $clamp (local.get 0)) (f32.const 255)) (f32.const 0.5))))
  (func (export "pulseengine:falcon-cascade/mixer@0.10.0#mix")
    (param $t f32) (param $r f32) (param $p f32) (param $y f32) (result i32)
    (i32.or
      (i32.or (call $byte (f32.sub (f32.add (f32.sub (local.get $t) (local.get $r)) (local.get $p)) (local.get $y)))
              (i32.shl (call $byte (f32.sub (f32.sub (f32.add (local.get $t) (local.get $r)) (local.get $p)) (local.get $y))) (i32.const 8)))
      (i32.or (i32.shl (call $byte (f32.add (f32.add (f32.add (local.get $t) (local.get $r)) (local.get $p)) (local.get $y))) (i32.const 16))
              (i32.shl (call $byte (f32.add (f32.sub (f32.sub (local.get $t) (local.get $r)) (local.get $p)) (local.get $y))) (i32.const 24)))))
  ;; rate#tick(ptr) -> ptr: the record at ptr (masked into [0x2000, 0x27f0], 16-aligned) is
  ;; {sp_x, sp_y, sp_z, gyro_x, gyro_y, gyro_z, kp} (7 x f32); the torques kp * (sp - gyro)
  ;; go to the return area at 0x3000, whose pointer is returned.
  (func (export "pulseengine:falcon-cascade/rate@0.10.0#tick") (param $p i32) (result i32)
    (local.set $p (i32.or (i32.and (local.get $p) (i32.const 0x7f0)) (i32.const 0x2000)))
    (f32.store (i32.const 0x3000) (f32.mul (f32.load offset=24 (local.get $p)) (f32.sub (f32.load (local.get $p)) (f32.load offset=12 (local.get $p)))))
    (f32.store (i32.const 0x3004) (f32.mul (f32.load offset=24 (local.get $p)) (f32.sub (f32.load offset=4 (local.get $p)) (f32.load offset=16 (local.get $p)))))
    (f32.store (i32.const 0x3008) (f32.mul (f32.load offset=24 (local.get $p)) (f32.sub (f32.load offset=8 (local.get $p)) (f32.load offset=20 (local.get $p)))))
    (i32.const 0x3000))
  ;; ekf#estimate(f32 x6) -> ptr: a 56-byte return area (14 x f32) at 0x4000: the six inputs,
  ;; their running sums in a state at 0x4100 (so calls accumulate), and two products.
  (func (export "pulseengine:falcon-cascade/ekf@0.10.0#estimate")
    (param f32 f32 f32 f32 f32 f32) (result i32)
    (f32.store (i32.const 0x4100) (f32.add (f32.load (i32.const 0x4100)) (local.get 0)))
    (f32.store (i32.const 0x4104) (f32.add (f32.load (i32.const 0x4104)) (local.get 1)))
    (f32.store (i32.const 0x4108) (f32.add (f32.load (i32.const 0x4108)) (local.get 2)))
    (f32.store (i32.const 0x410c) (f32.add (f32.load (i32.const 0x410c)) (local.get 3)))
    (f32.store (i32.const 0x4110) (f32.add (f32.load (i32.const 0x4110)) (local.get 4)))
    (f32.store (i32.const 0x4114) (f32.add (f32.load (i32.const 0x4114)) (local.get 5)))
    (f32.store (i32.const 0x4000) (local.get 0))
    (f32.store (i32.const 0x4004) (local.get 1))
    (f32.store (i32.const 0x4008) (local.get 2))
    (f32.store (i32.const 0x400c) (local.get 3))
    (f32.store (i32.const 0x4010) (local.get 4))
    (f32.store (i32.const 0x4014) (local.get 5))
    (memory.copy (i32.const 0x4018) (i32.const 0x4100) (i32.const 24))
    (f32.store (i32.const 0x4030) (f32.mul (local.get 0) (local.get 3)))
    (f32.store (i32.const 0x4034) (f32.mul (local.get 1) (local.get 4)))
    (i32.const 0x4000))
  ;; position#tick with a trailing retptr: (err_n, err_e, gain, retptr) writes two f32.
  (func (export "pulseengine:falcon-cascade/position@0.10.0#tick")
    (param f32 f32 f32 i32)
    (local.set 3 (i32.or (i32.and (local.get 3) (i32.const 0x7f8)) (i32.const 0x5000)))
    (f32.store (local.get 3) (f32.mul (local.get 2) (local.get 0)))
    (f32.store offset=4 (local.get 3) (f32.mul (local.get 2) (local.get 1))))
)
