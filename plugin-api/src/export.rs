//! Exporting a root module without naming `abi_stable` in the plugin crate.
//!
//! `abi_stable`'s own `#[export_root_module]` expands to `::abi_stable::..`
//! paths, which would force every plugin to depend on it directly. This macro
//! produces the same static through `$crate` paths instead.

/// The symbol abi_stable 0.11 looks up to find a library's root module.
/// A unit test checks it against `abi_stable::library::ROOT_MODULE_LOADER_NAME`.
#[cfg(test)]
pub(crate) const ROOT_MODULE_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";

/// Exports `$constructor: fn() -> PluginLibraryRef` as the library's root module.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_root_module {
    ($constructor:path) => {
        #[no_mangle]
        #[allow(non_upper_case_globals)]
        pub static _1as_0lib_1header_0root_bmodule_bloader:
            $crate::__private::abi_stable::library::LibHeader = {
            extern "C" fn erased_constructor(
            ) -> $crate::__private::abi_stable::library::RootModuleResult {
                $crate::__private::abi_stable::library::__call_root_module_loader($constructor)
            }
            // SAFETY: `erased_constructor` returns the `PluginLibraryRef` built by
            // `$constructor`, which is the module type named here.
            unsafe {
                $crate::__private::abi_stable::library::LibHeader::from_constructor::<
                    $crate::abi::PluginLibraryRef,
                >(
                    erased_constructor,
                    $crate::__private::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_module_symbol_matches_abi_stable() {
        assert_eq!(
            super::ROOT_MODULE_SYMBOL,
            abi_stable::library::ROOT_MODULE_LOADER_NAME
        );
    }
}
