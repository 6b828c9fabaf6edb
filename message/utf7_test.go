package message

import (
	"testing"
)

func TestDecodeUTF7(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Hi Mom -+Jjo--!", "Hi Mom -\u263a-!"},
		{"+ZeVnLIqe-", "日本語"},
		{"1 +- 1 = 2", "1 + 1 = 2"},
		{"+2D3eAQ-", "\U0001F601"},
		{"+AGEAYgBj", "abc"},
		{"+2D3-", "\uFFFD"},
	}
	for _, tt := range tests {
		if got := decodeUTF7([]byte(tt.in)); got != tt.want {
			t.Errorf("decodeUTF7(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
