package stdlib

import "encoding/json"

// msgState is what a message carries from stage to stage through the
// queue: msg.vars, the score and its symbols, the actions so far, and the
// generation of the rules that accepted it.
type msgState struct {
	Generation string         `json:"gen,omitempty"`
	Vars       map[string]any `json:"vars,omitempty"`
	Score      float64        `json:"score,omitempty"`
	Symbols    []Symbol       `json:"symbols,omitempty"`
	Actions    []Action       `json:"actions,omitempty"`
}

// MarshalState encodes what m carries to a later stage (msg.vars, score,
// symbols, actions) as JSON, for the queue to keep with the message.
func (m *Msg) MarshalState() ([]byte, error) {
	return json.Marshal(msgState{Generation: m.Generation, Vars: m.Vars, Score: m.Score, Symbols: m.Symbols, Actions: m.Actions})
}

// UnmarshalState restores what MarshalState encoded; empty data is an
// empty state.
func (m *Msg) UnmarshalState(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	var st msgState
	if err := json.Unmarshal(data, &st); err != nil {
		return err
	}
	m.Generation, m.Vars, m.Score, m.Symbols, m.Actions = st.Generation, st.Vars, st.Score, st.Symbols, st.Actions
	return nil
}
