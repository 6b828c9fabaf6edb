package queue_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluicemail/sluice/queue"
)

func Example() {
	dir, _ := os.MkdirTemp("", "sluice")
	defer os.RemoveAll(dir)

	spool, err := queue.OpenDir(filepath.Join(dir, "queue"), queue.DirOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer spool.Close()

	delivered := make(chan struct{})
	deliver := queue.HandlerFunc(func(ctx context.Context, it *queue.Item) queue.Outcome {
		for _, rcpt := range it.Pending() { // recipients not delivered by an earlier attempt
			// … store the message (it.Body()) in rcpt's mailbox …
			if err := it.Record(ctx, rcpt, queue.Delivered, "INBOX"); err != nil {
				return queue.Retry(err)
			}
		}
		fmt.Println("delivered to", it.Rcpt)
		close(delivered)
		return queue.Done()
	})
	q, err := queue.Open(spool, deliver, queue.Options{
		OnFail: func(ctx context.Context, it *queue.Item, err error) error {
			return nil // send a DSN to it.From here
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	q.Start(context.Background())

	env := queue.Envelope{From: "alice@example.org", Rcpt: []string{"bob@localhost"}}
	id, err := q.Accept(context.Background(), env, nil, strings.NewReader("Subject: hi\r\n\r\nhello\r\n"))
	if err != nil {
		fmt.Println("451 4.3.0 try again later") // errors.Is(err, queue.ErrSpool)
		return
	}
	_ = id // the message is durable now: reply "250 2.0.0 queued as " + id

	<-delivered
	q.Close(context.Background())
	// Output: delivered to [bob@localhost]
}
