package message

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSafeFilename(t *testing.T) {
	long := strings.Repeat("é", 200) + ".pdf"
	tests := []struct{ in, want string }{
		{"report.pdf", "report.pdf"},
		{"1234/../../1234.txt", "1234.txt"},
		{"../../example/MyFile.txt", "MyFile.txt"},
		{"php://foo", "foo"},
		{`C:\Users\x\evil.exe`, "evil.exe"},
		{"C:evil.exe", "C_evil.exe"},
		{"..", ""},
		{"...", ""},
		{".hidden", "hidden"},
		{"name. ", "name"},
		{"a\x00b\x1fc\x7f.txt", "abc.txt"},
		{"invoice\u202Efdp.exe", "invoicefdp.exe"},
		{`what?<>|*".txt`, "what______.txt"},
		{"bad\xffutf8.txt", "bad_utf8.txt"},
		{"Grüße.txt", "Grüße.txt"},
		{"", ""},
		{"dir/", ""},
	}
	for _, tt := range tests {
		if got := (&Part{Filename: tt.in}).SafeFilename(); got != tt.want {
			t.Errorf("SafeFilename(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	got := safeFilename(long)
	if len(got) > maxFilename || !strings.HasSuffix(got, ".pdf") || !utf8.ValidString(got) {
		t.Errorf("long name cut to %d bytes: %q", len(got), got)
	}
}
