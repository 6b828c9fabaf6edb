// Package queue is sluice's durable spool: it stores accepted messages,
// recovers them after a crash, and hands each one to a Handler (the
// on_queue stages and the deliveries) on a bounded pool of workers, with
// retries, exponential backoff and expiry. It knows nothing of Lua or SMTP.
//
// # Use
//
//	spool, err := queue.OpenDir("data/queue", queue.DirOptions{})
//	q, err := queue.Open(spool, handler, queue.Options{OnFail: bounce})
//	q.Start(ctx)
//	id, err := q.Accept(ctx, env, vars, dataReader) // nil: reply "250 queued as " + id
//	…
//	q.Close(ctx) // then spool.Close()
//
// # Guarantees
//
// Accept returns nil only when the message bytes and its envelope are
// durable (file data fdatasync'd, the folder fsync'd): after a crash or
// kill -9 at any moment, every message for which Accept returned nil is
// handed to the Handler again until it reports Done, or fails and goes to
// OnFail. Delivery is at least once: an attempt cut short by a crash is
// repeated. Item.Record writes a durable per-recipient record, and the
// next attempt finds it in Item.Done (Item.Pending lists the rest), so a
// handler that records each recipient right after delivering to it repeats
// a delivery only if the crash falls between the delivery and its record
// (sluice's pipeline closes that window for local deliveries too: the
// Maildir file is named after the message and recipient, and a repeat
// finds it; see mailstore.Store.DeliverOnce).
// A delivery that is its own record, which a repeated attempt finds and
// does not make again, is noted with Item.RecordFound: nothing is written
// for it unless the attempt ends in a retry or a failure. A message with a
// durable record or such a delivery for every recipient is removed without
// waiting for the removal to be durable (see DoneRemover): should a crash
// undo the removal, the next attempt skips or finds every recipient (and
// runs the handler's other work, such as on_queue stages, again).
//
// A message that Accept did not acknowledge is never resumed: DirSpool
// removes its remains when it is opened. If the spool cannot be written
// (full disk, permissions, I/O error) Accept returns an error matching
// ErrSpool and leaves nothing behind.
//
// # Scheduling
//
// One scheduler goroutine keeps the waiting messages in a heap by next
// attempt time and starts an attempt when a worker slot is free (at most
// Options.Workers at once). After Retry the next attempt comes after
// RetryInitial·2^(attempts-1), capped at RetryMax, less up to 20 % jitter;
// it is clamped to Received+MaxAge, where the last attempt is made; a Retry
// then expires the message. Fail and expiry mark the message failed
// (durably) and call OnFail, which is retried with backoff until it
// succeeds; then the message is removed. Attempt state (Attempts, NextTry,
// LastError, Vars) is saved after every Retry, so backoff survives a
// restart. Close works like http.Server.Shutdown.
//
// With Options.BurstHold, while messages arrive (one in the last 20 ms,
// burstIdle) only a quarter of the workers start attempts, and none while
// more than Workers new messages wait, until the first waiting message has
// waited BurstHold. A delivery during a burst costs the sessions more than
// its own CPU: its files join the grouped syncs the sessions wait for, and
// make them longer. Held back, messages were accepted 5-30 % faster in
// load.sh-style runs on one core (4 and 100 KiB, alternating pairs), and
// 12-30 % faster again on a later machine with none delivering once a
// backlog built up, at about the same sustained rate (bench/README.md). A
// steady stream that the quarter keeps up with is delivered as it comes.
//
// # Storage and fsync grouping
//
// Spool is the storage interface (a local folder now, NATS JetStream
// later); testSpool in spool_suite_test.go is its conformance suite.
// DirSpool's layout is described on its type and on segPrefix: messages
// and their envelopes are records in shared append-only segment files, so
// that storing and removing a message creates and deletes no file;
// delivery records (ID.log) are files beside them, and a message deferred
// by a retry moves out to files of its own (ID.eml, ID.json), so that
// segments hold only first attempts. DirOptions.Sync chooses how it syncs; the
// grouped modes use one goroutine that serves every request pending when
// it wakes (while one batch syncs, the next gathers):
//
//   - SyncFS: one syncfs(2) per batch, i.e. one journal commit and one
//     cache flush for all the messages of the batch.
//   - SyncBatch: start write-back of every file of the batch, fdatasync
//     each, then one fsync of the folder.
//   - SyncEach (no grouping): every call fdatasyncs its own files (and
//     fsyncs the folder when it changed it).
//   - SyncAuto, the default, is SyncFS on Linux 5.8+ (amd64, arm64),
//     else SyncBatch.
//
// Before it syncs, the goroutine lets the goroutines that are ready to run
// go first (runtime.Gosched, up to three rounds while that brings more
// requests): on one core it would otherwise be scheduled as soon as the
// first request is sent and serve every request alone. In the server's
// message path that took the syncfs calls per message from 4.9 to 1.5
// (bench/syscalls.sh). Where the Ps outnumber the cores (sluice serve runs
// with two Ps on one core, so that a sync in progress does not hold the
// only P), each round also yields the core with sched_yield: a Gosched
// alone would return at once while the goroutines that bring the next
// requests wait on the other P's thread (1.07 syncs per 4 KiB message
// without the yield, 0.75 with it).
//
// Syncs that nobody waits for are folded into the others: RemoveDone (a
// message whose every recipient has a durable record) marks its body dead
// and, with SyncFS, leaves the sync to the next grouped sync for any
// message, or to the syncer after a second (laterDelay) when none comes;
// so do the unlinks of a message's ID.json and ID.log. Item.SyncFiles
// lets a delivery (the Maildir file, then its folder) join the grouped
// syncfs when the files are on the spool's file system.
//
// Per message with local recipients only, the server's path makes four
// sync requests — the body (CreateBody), the envelope (CommitState), the
// Maildir file and then its folder (Item.SyncFiles), the last two per
// recipient — and creates one file per recipient, the Maildir's; the spool
// writes three records into a segment (body, state, then one byte: the
// dead flag, synced by whichever sync comes next). ID.log is created only
// when a record is written (a relayed or bounced recipient, a retry); a
// retry moves the message to ID.eml and ID.json. Until 2026-11-26 the
// removal was a fifth request that the worker waited for (it stood in for
// the last recipient's record); with the Maildir file as the record, the
// CPU per 4 KiB message under load went from 450-540 to 390-450 µs and the
// sustained rate from 1340-1510 to 1570-1870 messages a second.
//
// Segments were measured against the earlier layout of one ID.eml and one
// ID.json per message (bench/README.md): on ext4 without a journal, where
// creating a file scans past the inodes deleted in the last seconds to
// minutes, they took the server's CPU per 4 KiB message from 965 µs to
// 640 and its rate from 827 to 1739 messages a second (medians of 12 runs). Their costs: a full segment (32 MiB, segMax) stays on disk until
// the first attempts of its messages are over (a retry moves a message
// out); a deferred message is copied once; OpenDir reads every record
// header (not the bodies).
//
// # Measurements
//
// BenchmarkAccept4K and BenchmarkAccept100K on a 2-vCPU VM (Linux 6.18,
// ext4), medians of 3 runs, serial (1 conn) and with 20 concurrent Accepts.
// With SLUICE_BENCH_BLOCKDEV the benchmarks count the cache flushes the
// device received, which is what grouping saves whatever the disk. On an
// ext4 of its own (a loop device, so flushes cost no device time: this
// shows CPU and flush counts):
//
//	             msgs/s          CPU µs/msg   flushes/msg
//	4 KiB        1 conn  20 conns  (20 conns)  1 conn  20 conns
//	SyncFS         3331      9131         88     2.37     0.36
//	SyncBatch      2825      5793        121     3.42     2.37
//	SyncEach       2554      4839        168     4.22     2.19
//	SyncNone      17592     26670         70     0        0
//	100 KiB
//	SyncFS         1956      4839        135     2.85     0.39
//	SyncBatch      2462      4822        164     3.34     2.38
//	SyncEach       2155      4210        207     4.23     2.38
//	SyncNone       6270      7303        124     0        0
//
// One Accept alone (1 conn) costs 2.4 (SyncFS) to 4.2 (SyncEach) flushes:
// grouping needs concurrency. On ext4 every fdatasync ends in a cache flush
// even when its journal commit was already done by another, so SyncBatch
// cannot go below two flushes per message; only syncfs shares one flush
// among the batch. With flushes of 0.2 ms (this VM's median) to 1 ms (a
// consumer SSD) SyncFS has by far the highest ceiling, hence the default.
// Its cost: syncfs writes back every dirty file of the file system, other
// programs' too, so a spool sharing its file system with a heavy writer
// waits for that writer's data; give the spool a file system of its own,
// or choose SyncEach. On this VM's root disk, shared with other busy
// tenants, all modes measured within noise of each other (4 KiB, 20 conns:
// medians 940–1230 msgs/s, SyncNone 1550: file creation itself was slow),
// so there the disk, not the spool, set the pace.
//
// Durable acceptance alone costs about 88 µs of CPU per 4 KiB message with
// SyncFS (70 µs without any sync; JSON and allocations are a few µs of it,
// the rest is the kernel creating, writing and syncing two files). End to
// end, a go-smtp v0.25 server (GOMAXPROCS=1, pinned to one core; 20 client
// connections on the other core; spool on its own ext4) did 9.3–11.8k
// msgs/s at about 65 µs CPU per message doing no work, and 2.3–4.6k msgs/s
// at 160–220 µs per message with Accept (SyncFS): 30–40 % of the no-work
// rate (best run 39 %), at the 40 % target but not reliably above it on
// this shared VM. About three quarters of the queue's share was kernel work
// for the two files (two creates, write-back): the figures above are of
// that per-message layout, which segments have since replaced.
//
// The server's whole message path without SMTP and Lua — Receive, Commit,
// and the worker's attempt with one Maildir delivery, until the spool is
// empty — is BenchmarkPath4K/100K in internal/pipeline. One core (-cpu 1),
// 20 senders, medians of 5, CPU µs per message (msgs/s):
//
//	                        4 KiB          100 KiB
//	tmpfs     before   175 ( 5670)    434 (2380)
//	          after    110 (18420)    350 (5300)
//	ext4      before   683 ( 2780)    987 (1850)
//	(journal) after    311 ( 4210)    603 (2470)
//
// "Before" is the path as it was: the body read back for on_data and loaded
// again for the attempt, a delivery record and a synced removal, the
// Maildir's own two fsyncs, one syncfs per request on one core.
package queue
