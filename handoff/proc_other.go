//go:build !unix

package handoff

import (
	"errors"
	"os/exec"
)

// procGroup: process groups are a unix feature; exec filters need one.
type procGroup struct{}

func (g *procGroup) setup(cmd *exec.Cmd) error {
	return errors.New("exec filters need a unix system (process groups)")
}

func (g *procGroup) waitLeader(pid int) {}
func (g *procGroup) reaped()            {}
