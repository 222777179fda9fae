//! Unit tests of the parent module.

use super::*;

#[test]
fn splitext_like_python() {
    assert_eq!(split_ext("foo.dll"), ("foo", ".dll"));
    assert_eq!(split_ext("foo.bar.DLL"), ("foo.bar", ".DLL"));
    assert_eq!(split_ext("foo"), ("foo", ""));
    assert_eq!(split_ext(".dll"), (".dll", ""));
    assert_eq!(split_ext("..a.dll"), ("..a", ".dll"));
}

#[test]
fn min_python_from_tags() {
    assert_eq!(min_python(&["cp312".into()]), Some((3, 12)));
    assert_eq!(min_python(&["cp38".into(), "cp310".into()]), Some((3, 8)));
    assert_eq!(min_python(&["cp313t".into()]), Some((3, 13)));
    assert_eq!(min_python(&["py3".into()]), None);
}
