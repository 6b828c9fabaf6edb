package stdlib

import (
	"os"
	"path/filepath"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// fuzzScript calls every read method of the msg API and a header edit.
const fuzzScript = `
function f(msg)
  local n = #msg:subject() + #msg:header("From") + #msg:headers("Received")
  for _, h in ipairs(msg:header_fields()) do n = n + #h.value end
  n = n + #msg:text() + #msg:html() + #msg:defects()
  for _, p in ipairs(msg:parts()) do
    local ok, s = pcall(p.text, p)
    local ok2, b = pcall(p.bytes, p)
    n = n + p.size + #p.filename + #p.safe_filename
  end
  msg:attachment("x.txt")
  msg:set_header("X-Fuzz", "é")
  msg:remove_header("Subject")
  return n
end`

// FuzzMsgAPI feeds arbitrary messages to the Lua message API: no panic,
// and only Lua errors a script can catch.
func FuzzMsgAPI(f *testing.F) {
	f.Add([]byte("Subject: hi\r\n\r\nbody\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; charset=koi8-r\n\n\xf0\n--b"))
	f.Add([]byte(""))
	dir := os.Getenv("SLUICE_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "corpus")
	}
	for _, sub := range []string{"malformed", "charsets", "attachments"} {
		files, _ := filepath.Glob(filepath.Join(dir, sub, "*.eml"))
		for i, name := range files {
			if i%4 != 0 { // a sample keeps the seed set quick
				continue
			}
			if b, err := os.ReadFile(name); err == nil && len(b) < 64<<10 {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := newTestMsg("")
		m.Body = newBody(raw)
		_, err := luaRun(t, m, Limits{MaxPartBytes: 1 << 20}, fuzzScript)
		if err != nil {
			var ae *lua.ApiError
			if asAPIError(err, &ae) && ae.Type == lua.ApiErrorPanic {
				t.Fatalf("a binding panicked: %v", err)
			}
		}
	})
}
