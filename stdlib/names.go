package stdlib

import (
	"fmt"
	"strings"
)

// CheckAddress reports whether addr looks like a usable envelope address:
// local@domain, no spaces, angle brackets or control characters.
func CheckAddress(addr string) error {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return fmt.Errorf("address %q is not local@domain", addr)
	}
	if len(addr) > 320 {
		return fmt.Errorf("address is %d bytes long (max 320)", len(addr))
	}
	for _, r := range addr {
		if r <= ' ' || r == '<' || r == '>' || r == 0x7f {
			return fmt.Errorf("address %q contains a space, control character or angle bracket", addr)
		}
	}
	return nil
}
