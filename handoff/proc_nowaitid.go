//go:build unix && !linux

package handoff

import "errors"

// waitExitWorks: no portable waitid(WNOWAIT) here.
const waitExitWorks = false

// waitExit is not available: procGroup kills the rest of the group after
// the leader is reaped instead.
func waitExit(pid int) error { return errors.ErrUnsupported }
