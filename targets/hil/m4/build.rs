fn main() {
    hil_build::cortex_m_rt_link();
    hil_build::configure(&[
        "cabi_realloc",
        "pulseengine:falcon-cascade/ekf@0.10.0#init",
        "pulseengine:falcon-cascade/ekf@0.10.0#estimate",
    ]);
}
