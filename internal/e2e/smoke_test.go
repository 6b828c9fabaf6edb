package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The smallest end-to-end check: Python's smtplib sends one message to the
// real binary and it lands in the Maildir with the default pipeline's
// headers.
func TestSmokeSmtplib(t *testing.T) {
	py := need(t, "python3")
	s := Start(t, DefaultConfig)
	script := `
import smtplib, sys
from email.message import EmailMessage
m = EmailMessage()
m['From'] = 'alice@example.org'; m['To'] = 'bob@local.test'
m['Subject'] = 'smoke'; m['Message-ID'] = '<smoke-1@example.org>'
m['Date'] = 'Wed, 25 Nov 2026 10:00:00 +0000'
m.set_content('hello')
host, port = sys.argv[1].rsplit(':', 1)
with smtplib.SMTP(host, int(port)) as c:
    c.send_message(m)
`
	out, err := exec.Command(py, "-c", script, s.Addr).CombinedOutput()
	if err != nil {
		t.Fatalf("smtplib: %v\n%s", err, out)
	}
	files := s.WaitMaildir("bob@local.test", "", 1, 10*time.Second)
	if len(files) != 1 {
		t.Fatalf("%d messages in the Maildir, want 1\n%s", len(files), s.Log())
	}
	b, _ := os.ReadFile(files[0])
	for _, want := range []string{"Message-ID: <smoke-1@example.org>", "X-Sluice-Stages: attachments score filing", "Received: from "} {
		if !strings.Contains(string(b), want) {
			t.Errorf("delivered message lacks %q:\n%s", want, b)
		}
	}
}
