fn main() {
    hil_build::cortex_m_rt_link();
    hil_build::configure_cm7(&[
        "cabi_realloc",
        "pulseengine:falcon-cascade/position@0.10.0#tick",
        "pulseengine:falcon-cascade/attitude@0.10.0#tick",
        "pulseengine:falcon-cascade/rate@0.10.0#tick",
        "pulseengine:falcon-cascade/mixer@0.10.0#mix",
    ]);
}
