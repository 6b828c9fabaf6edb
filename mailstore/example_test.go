package mailstore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/sluicemail/sluice/mailstore"
)

func Example() {
	dir, _ := os.MkdirTemp("", "store")
	defer os.RemoveAll(dir)

	s, err := mailstore.New(dir, mailstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	msg := "Subject: Order 42\r\n\r\nOne of everything.\r\n"
	if _, err := s.Deliver(context.Background(), "bob@localhost", "Orders", mailstore.LF(strings.NewReader(msg))); err != nil {
		log.Fatal(err)
	}
	folders, _ := s.Folders("bob@localhost")
	total, unseen, _ := s.Count("bob@localhost", "Orders")
	fmt.Println(folders, total, unseen)

	_, err = s.Deliver(context.Background(), "bob@localhost", "../../etc", strings.NewReader(msg))
	fmt.Println(err)
	// Output:
	// [INBOX Orders] 1 1
	// mailstore: deliver bob@localhost/../../etc: bad folder name "../../etc": contains "/" or "\"
}
