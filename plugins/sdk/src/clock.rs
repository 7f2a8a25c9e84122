//! The time of day, for plugins that measure it (a rate limiter's refill,
//! an entry's age): WASI's wall clock, which the host offers to the
//! millisecond. Time is the same on every host of a fleet only as far as
//! their clocks agree. A plugin that never calls this does not import the
//! clock (nor WASI). In a native build (`cargo test`) it is the machine's
//! clock, unless the test set one with [`crate::testing::clock`].

/// Milliseconds since 1970-01-01 UTC.
pub fn now_ms() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        let now = wasm::wasi::clocks::wall_clock::now();
        now.seconds * 1000 + u64::from(now.nanoseconds / 1_000_000)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        crate::testing::clock::now_ms()
    }
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    wit_bindgen::generate!({
        inline: "
            package yell:sdk-clock;
            world clock {
                import wasi:clocks/wall-clock@0.2.0;
            }
        ",
        runtime_path: "yell_plugin::__wit_bindgen_rt",
        generate_all,
    });
}
