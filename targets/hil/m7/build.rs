fn main() {
    hil_build::cortex_m_rt_link();
    hil_build::configure_cm7(&[
        "cabi_realloc",
        "pulseengine:falcon-cascade/controller@0.10.0#step",
    ]);
}
