fn main() {
    hil_build::cortex_m_rt_link();
    hil_build::configure(&[
        "cabi_realloc",
        "rt-twin:stack/aided-ekf@0.1.0#init",
        "rt-twin:stack/aided-ekf@0.1.0#estimate",
    ]);
}
