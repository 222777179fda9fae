//! macOS platform tag rules (delocate's): minimum macOS per architecture,
//! universal2/intel packing, `MACOSX_DEPLOYMENT_TARGET`.
