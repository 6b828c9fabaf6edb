package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sluicemail/sluice/engine"
	"github.com/sluicemail/sluice/stdlib"
)

// palette colours the trace on a terminal; the zero value prints plain text.
type palette struct{ on bool }

func (p palette) paint(code, s string) string {
	if !p.on {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (p palette) verdict(v string) string {
	switch v {
	case engine.Accept, "continue":
		return p.paint("32", v)
	case engine.Reject:
		return p.paint("31;1", v)
	case engine.Tempfail, engine.Quarantine:
		return p.paint("33;1", v)
	}
	return p.paint("35", v)
}

func (p palette) dim(s string) string { return p.paint("2", s) }

// isTerminal reports whether w is a terminal that wants colours.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// printTrace prints the human trace of sluice run: rcpt are the envelope
// recipients as given (m.Rcpt has lost those on_rcpt refused).
func printTrace(w io.Writer, name string, m *stdlib.Msg, rcpt []string, r *engine.Result, colour bool) {
	p := palette{on: colour}
	size := int64(0)
	if m.Body != nil {
		size = m.Body.Size()
	}
	fmt.Fprintf(w, "%s  %s  from <%s> to %s\n", p.paint("1", name), p.dim(fmt.Sprintf("%d bytes", size)),
		m.From, strings.Join(bracket(rcpt), " "))
	width := 9 // on_connect is the one hook longer than that
	for _, s := range r.Stages {
		width = max(width, len(s.Hook))
	}
	refused := r.RcptRefused
	for _, s := range r.Stages {
		fmt.Fprintf(w, "  %-*s %-14s %-11s %s\n", width, s.Hook, s.Name, p.verdict(s.Verdict), p.dim(fmt.Sprintf("%.2f ms", s.Ms)))
		if s.Error != "" {
			fmt.Fprintf(w, "      %s %s %s\n", p.paint("31", "error:"), s.Error, p.dim("(on_error = "+s.Policy+")"))
		}
		if len(refused) > 0 && s.Hook == "on_rcpt" && refused[0].Stage == s.Name &&
			(s.Verdict == engine.Reject || s.Verdict == engine.Tempfail) {
			printRefused(w, p, refused[0])
			refused = refused[1:]
		}
	}
	for _, rf := range refused { // not matched to a stage line; not expected
		printRefused(w, p, rf)
	}
	if len(r.Stages) == 0 {
		fmt.Fprintln(w, "  "+p.dim("(no stage defines a hook)"))
	}
	for _, h := range r.Headers.Added {
		fmt.Fprintf(w, "  %s %s: %s\n", p.paint("32", "+header"), h[0], h[1])
	}
	for _, h := range r.Headers.Removed {
		fmt.Fprintf(w, "  %s %s\n", p.paint("31", "-header"), h)
	}
	if len(r.Symbols) > 0 || r.Score != 0 {
		fmt.Fprintf(w, "  score %.2f\n", r.Score)
		for _, s := range r.Symbols {
			fmt.Fprintf(w, "    %+6.2f %-20s %s\n", s.Points, s.Name, p.dim(s.Why))
		}
	}
	for _, a := range r.Actions {
		detail := strings.TrimSpace(strings.Join([]string{a.Folder, a.Address, a.Reason}, " "))
		if a.Part != 0 {
			detail = fmt.Sprintf("part %d", a.Part)
		}
		fmt.Fprintf(w, "  action %-13s %s %s\n", a.Kind, detail, p.dim("("+a.Stage+")"))
	}
	for _, d := range r.Defects {
		fmt.Fprintf(w, "  %s %s\n", p.paint("33", "defect:"), d)
	}
	reply := fmt.Sprintf("%d %s %s", r.Code, r.Enhanced, r.Text)
	fmt.Fprintf(w, "verdict: %s  %s\n", p.verdict(r.Verdict), reply)
}

// printRefused prints a recipient refused by on_rcpt, under its stage.
func printRefused(w io.Writer, p palette, rf engine.RcptRefusal) {
	fmt.Fprintf(w, "      %s <%s>: %d %s %s\n", p.paint("31", "refused"), rf.Rcpt, rf.Code, rf.Enhanced, rf.Text)
}

func bracket(addrs []string) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = "<" + a + ">"
	}
	return out
}
