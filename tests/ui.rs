//! Compile-fail cases: each bad input gets one clear error on its token.
//! The `.stderr` files pin the messages; `TRYBUILD=overwrite` regenerates
//! them after a deliberate change.

#[test]
fn macro_errors() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/crud/*.rs");
    cases.compile_fail("tests/ui/crud_enum/*.rs");
    cases.compile_fail("tests/ui/endpoints/*.rs");
}
