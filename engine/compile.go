package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// compileSource parses and compiles src with name as the chunk name. A
// syntax error reads "name:line:col: message".
func compileSource(name string, src []byte) (*lua.FunctionProto, error) {
	chunk, err := parseSource(name, src)
	if err != nil {
		return nil, err
	}
	proto, err := lua.Compile(chunk, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	// The main chunk has no "arg" local, but gopher-lua's Lua 5.0
	// compatibility still builds an arg table on every run of it: a map
	// allocation per hook call, for nothing.
	proto.IsVarArg &^= lua.VarArgNeedsArg
	return proto, nil
}

// parseSource parses src (a UTF-8 byte-order mark and a shebang line
// allowed) with name as the chunk name. A syntax error reads
// "name:line:col: message".
func parseSource(name string, src []byte) ([]ast.Stmt, error) {
	src = bytes.TrimPrefix(src, []byte("\xef\xbb\xbf"))
	if bytes.HasPrefix(src, []byte("#")) { // a shebang line, as lua(1) allows
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			src = append([]byte("--"), src[i:]...)
		}
	}
	chunk, err := parse.Parse(bytes.NewReader(src), name)
	if err != nil {
		var pe *parse.Error
		if errors.As(err, &pe) {
			msg := strings.TrimSpace(pe.Message)
			if pe.Pos.Line == parse.EOF {
				return nil, fmt.Errorf("%s: at end of file: %s", name, msg)
			}
			if pe.Token != "" {
				msg += fmt.Sprintf(" near '%s'", pe.Token)
			}
			return nil, fmt.Errorf("%s:%d:%d: %s", name, pe.Pos.Line, pe.Pos.Column, msg)
		}
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return chunk, nil
}

// readScript reads a script with read; an error matches ErrScript and
// names the file once.
func readScript(read func(string) ([]byte, error), name string) ([]byte, error) {
	src, err := read(name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is said once, in front
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrScript, name, err)
	}
	return src, nil
}

// whereRE finds the "path:line:" gopher-lua puts in front of runtime errors.
var whereRE = regexp.MustCompile(`^(\S+?\.lua):(\d+):\s*`)

// scriptError turns a gopher-lua error into one line "path:line: message"
// (the stack traceback is dropped: the log has the stage and message id).
func scriptError(err error) string {
	var ae *lua.ApiError
	msg := err.Error()
	if errors.As(err, &ae) {
		msg = ae.Object.String()
		if t, ok := ae.Object.(*lua.LTable); ok {
			msg = "error " + fmtValue(t) // error({code = 1}): its content, not its address
		}
		if ae.Type == lua.ApiErrorPanic {
			if strings.Contains(msg, "callstack overflow") {
				msg = "stack overflow (runaway recursion?)"
			} else {
				msg = "internal error in a library function: " + msg
			}
		}
	}
	if i := strings.Index(msg, "\nstack traceback:"); i >= 0 {
		msg = msg[:i]
	}
	return strings.TrimSpace(msg)
}

// scriptLocation returns the "path:line" at the start of a script error, or "".
func scriptLocation(msg string) string {
	m := whereRE.FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	return m[1] + ":" + m[2]
}
