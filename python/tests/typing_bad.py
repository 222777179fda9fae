"""Must FAIL `mypy --strict`: a wrong type and an unknown option (CI checks
that mypy reports both lines)."""

import wheelfix

wheelfix.repair("dist/x.whl", "wheelhouse", plat=5)  # error: arg-type
wheelfix.repair("dist/x.whl", "wheelhouse", bogus_option=True)  # error: call-arg
