package message_test

import (
	"fmt"
	"strings"

	"github.com/sluicemail/sluice/message"
)

func Example() {
	raw := []byte("From: Alice <alice@example.org>\r\n" +
		"Subject: =?utf-8?q?Caf=C3=A9?=\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n" +
		"\r\n" +
		"--b\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		"See the file.\r\n" +
		"--b\r\n" +
		"Content-Type: application/octet-stream\r\n" +
		"Content-Disposition: attachment; filename=\"../../run.exe\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"\r\n" +
		"TVo=\r\n" +
		"--b--\r\n")
	m := message.New(raw, message.Options{})
	fmt.Println(m.Header("Subject"))

	parts, _ := m.Parts()
	for _, p := range parts {
		if p.IsAttachment {
			fmt.Printf("%s %q saved as %q\n", p.ContentType, p.Filename, p.SafeFilename())
			_ = m.RemovePart(p)
		}
	}
	_ = m.PrependText("[an attachment was removed]")
	_ = m.AddHeader("X-Filtered", "yes")
	fmt.Print(strings.ReplaceAll(string(m.Bytes()), "\r\n", "\n"))
	// Output:
	// Café
	// application/octet-stream "../../run.exe" saved as "run.exe"
	// X-Filtered: yes
	// From: Alice <alice@example.org>
	// Subject: =?utf-8?q?Caf=C3=A9?=
	// Content-Type: multipart/mixed; boundary=b
	//
	// --b
	// Content-Type: text/plain; charset=utf-8
	//
	// [an attachment was removed]
	// See the file.
	// --b--
}
