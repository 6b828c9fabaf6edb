package engine

import "github.com/sluicemail/sluice/stdlib"

// Result is the outcome of running a pipeline on one message, in the shape
// of `sluice run --json`.
type Result struct {
	Verdict  string          `json:"verdict"`
	Code     int             `json:"code"`
	Enhanced string          `json:"enhanced"`
	Text     string          `json:"text"`
	Stages   []StageRun      `json:"stages"`
	Score    float64         `json:"score"`
	Symbols  []stdlib.Symbol `json:"symbols"`
	Actions  []stdlib.Action `json:"actions"`
	Headers  HeaderEdits     `json:"headers"`
	Defects  []string        `json:"defects,omitempty"`
	// RcptRefused are the recipients on_rcpt refused, in envelope order
	// (see Engine.Transaction); absent when none was.
	RcptRefused []RcptRefusal `json:"rcpt_refused,omitempty"`
}

// RcptRefusal is one recipient refused at RCPT time: the reply the client
// got and the stage that gave it.
type RcptRefusal struct {
	Rcpt string `json:"rcpt"`
	// Verdict is reject or tempfail.
	Verdict  string `json:"verdict"`
	Code     int    `json:"code"`
	Enhanced string `json:"enhanced"`
	Text     string `json:"text"`
	Stage    string `json:"stage"`
}

// StageRun is the trace of one hook call.
type StageRun struct {
	Name    string  `json:"name"`
	Hook    string  `json:"hook"`
	Verdict string  `json:"verdict"`
	Ms      float64 `json:"ms"`
	Error   string  `json:"error,omitempty"`
	// Policy is set when Error is: the on_error policy that was applied.
	Policy string `json:"policy,omitempty"`
}

// HeaderEdits lists the header changes the scripts made.
type HeaderEdits struct {
	Added   [][2]string `json:"added"`
	Removed []string    `json:"removed"`
}

// decide records v as the final verdict of r.
func (r *Result) decide(v Verdict) {
	r.Verdict, r.Code, r.Enhanced, r.Text = v.Kind, v.Code, v.Enhanced, v.Text
}

// finish fills the fields that come from the message and defaults the
// verdict to accept.
func (r *Result) finish(m *stdlib.Msg) {
	if r.Verdict == Continue {
		r.decide(Verdict{Kind: Accept, Code: 250, Enhanced: "2.0.0", Text: "ok"})
	}
	if r.Stages == nil {
		r.Stages = []StageRun{}
	}
	r.Score = m.Score
	r.Symbols = append([]stdlib.Symbol{}, m.Symbols...)
	r.Actions = append([]stdlib.Action{}, m.Actions...)
	r.Headers = HeaderEdits{Added: [][2]string{}, Removed: []string{}}
	if m.Body != nil {
		added, removed := m.Body.Edits()
		r.Headers.Added = append(r.Headers.Added, added...)
		r.Headers.Removed = append(r.Headers.Removed, removed...)
		r.Defects = m.Body.Defects()
	}
}
