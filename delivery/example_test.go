package delivery_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/sluicemail/sluice/delivery"
	"github.com/sluicemail/sluice/mailstore"
)

func ExampleLocal_Deliver() {
	dir, _ := os.MkdirTemp("", "sluice-example")
	defer os.RemoveAll(dir)
	store, err := mailstore.New(dir, mailstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	local := &delivery.Local{Store: store}
	err = local.Deliver(context.Background(), "bob@localhost", "Orders", strings.NewReader("Subject: Order 42\r\n\r\nhi\r\n"))
	fmt.Println(err)
	err = local.Deliver(context.Background(), "bob@localhost", "../escape", strings.NewReader("Subject: x\r\n\r\n"))
	fmt.Println(delivery.IsTemporary(err), errors.Is(err, mailstore.ErrBadFolder))
	// Output:
	// <nil>
	// false true
}

func ExampleDSN() {
	res := delivery.RcptResult{Rcpt: "bob@example.net", Code: 550, Enhanced: "5.1.1", Text: "no such user"}
	if !delivery.ShouldBounce("alice@example.org") {
		return
	}
	b, err := delivery.DSN(delivery.DSNInput{
		ReportingMTA: "mx.sluice.test",
		To:           "alice@example.org",
		QueueID:      "1a2b",
		Arrival:      time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
		Recipients: []delivery.DSNRecipient{{
			Rcpt: res.Rcpt, Status: res.Enhanced, DiagnosticCode: res.Diagnostic(), RemoteMTA: "smarthost.example.net",
		}},
		Original: strings.NewReader("Subject: hello\r\n\r\nbody\r\n"),
	})
	if err != nil {
		log.Fatal(err)
	}
	// Send b with the null sender: relay.Send(ctx, "", []string{"alice@example.org"}, bytes.NewReader(b))
	i := bytes.Index(b, []byte("Reporting-MTA"))
	j := bytes.Index(b[i:], []byte("\r\n\r\n--"))
	fmt.Println(strings.ReplaceAll(string(b[i:i+j]), "\r\n", "\n"))
	// Output:
	// Reporting-MTA: dns; mx.sluice.test
	// X-Queue-ID: 1a2b
	// Arrival-Date: Tue, 04 Mar 2025 05:06:07 +0000
	//
	// Final-Recipient: rfc822; bob@example.net
	// Action: failed
	// Status: 5.1.1
	// Remote-MTA: dns; smarthost.example.net
	// Diagnostic-Code: smtp; 550 5.1.1 no such user
}
