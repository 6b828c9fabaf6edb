package mailstore

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Inbox names a mailbox's top-level folder. Every method that takes a folder
// accepts it in any case.
const Inbox = "INBOX"

const (
	maxFolder = 200 // bytes in a folder name
	maxUser   = 255 // bytes in an address's local part (one path element)
	maxDomain = 253 // bytes in a domain
	maxLabel  = 63  // bytes in one label of a domain
)

// nameError reports a refused address, folder or quarantine ID; it unwraps
// to kind (ErrBadAddress, ErrBadFolder or ErrBadID).
type nameError struct {
	kind error
	name string
	why  string
}

func (e *nameError) Error() string { return fmt.Sprintf("%v %q: %s", e.kind, e.name, e.why) }
func (e *nameError) Unwrap() error { return e.kind }

// CheckFolder reports whether name is a folder name the store accepts. It
// returns nil for "INBOX" in any case (the mailbox's top level) and for
// Maildir++ names whose levels are separated by "." ("Lists.Go" is Go inside
// Lists). Otherwise the error wraps ErrBadFolder and says why: the name is
// empty, longer than 200 bytes, not valid UTF-8, contains "/", "\", a
// control character or "..", starts or ends with ".", has a level named
// "tmp", "new" or "cur" (any case), or has sub-folders under INBOX
// ("INBOX.Spam": write "Spam").
func CheckFolder(name string) error {
	_, err := folderDir(name)
	return err
}

// folderDir checks name and returns its directory relative to the mailbox:
// "" for INBOX, "."+name for a sub-folder.
func folderDir(name string) (string, error) {
	if name == "" {
		return "", &nameError{ErrBadFolder, name, "empty"}
	}
	if strings.EqualFold(name, Inbox) {
		return "", nil
	}
	if why := folderProblem(name); why != "" {
		return "", &nameError{ErrBadFolder, name, why}
	}
	return "." + name, nil
}

func folderProblem(name string) string {
	switch {
	case len(name) > maxFolder:
		return fmt.Sprintf("longer than %d bytes", maxFolder)
	case !utf8.ValidString(name):
		return "not valid UTF-8"
	case strings.ContainsAny(name, `/\`):
		return `contains "/" or "\"`
	case strings.HasPrefix(name, "."), strings.HasSuffix(name, "."):
		return `starts or ends with "."`
	case strings.Contains(name, ".."):
		return `contains ".."`
	case strings.ContainsFunc(name, unicode.IsControl):
		return "contains a control character"
	}
	for i, level := range strings.Split(name, ".") {
		switch l := strings.ToLower(level); {
		case l == "tmp" || l == "new" || l == "cur":
			return fmt.Sprintf("%q is reserved by Maildir", level)
		case l == "inbox" && i == 0:
			return "INBOX has no sub-folders here"
		}
	}
	return ""
}

// CheckAddress splits addr ("user@domain") into the two path elements of
// its mailbox, DIR/mail/DOMAIN/USER. The domain is returned lower-cased and
// must be a host name: labels of ASCII letters, digits and inner hyphens,
// no trailing dot, no address literal ("[192.0.2.1]"); internationalised
// domains must be given in their xn-- form. The local part keeps its case
// and must be 1 to 255 bytes of valid UTF-8 without "/", "\", "@", control
// characters (NUL included) or "..", and must not start with ".". Errors
// wrap ErrBadAddress.
func CheckAddress(addr string) (domain, user string, err error) {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "", "", &nameError{ErrBadAddress, addr, `no "@"`}
	}
	user, domain = addr[:at], addr[at+1:]
	if why := userProblem(user); why != "" {
		return "", "", &nameError{ErrBadAddress, addr, why}
	}
	if why := domainProblem(domain); why != "" {
		return "", "", &nameError{ErrBadAddress, addr, why}
	}
	return strings.ToLower(domain), user, nil
}

func userProblem(user string) string {
	switch {
	case user == "":
		return "empty local part"
	case len(user) > maxUser:
		return fmt.Sprintf("local part longer than %d bytes", maxUser)
	case !utf8.ValidString(user):
		return "local part is not valid UTF-8"
	case strings.ContainsAny(user, `/\@`):
		return `local part contains "/", "\" or "@"`
	case strings.ContainsFunc(user, unicode.IsControl):
		return "local part contains a control character"
	case strings.HasPrefix(user, "."):
		return `local part starts with "."`
	case strings.Contains(user, ".."):
		return `local part contains ".."`
	}
	return ""
}

func domainProblem(domain string) string {
	switch {
	case domain == "":
		return "empty domain"
	case strings.HasPrefix(domain, "["):
		return "address literals are not accepted"
	case len(domain) > maxDomain:
		return fmt.Sprintf("domain longer than %d bytes", maxDomain)
	}
	for _, label := range strings.Split(domain, ".") {
		if !validLabel(label) {
			return "domain is not a host name"
		}
	}
	return ""
}

func validLabel(label string) bool {
	if label == "" || len(label) > maxLabel || label[0] == '-' || label[len(label)-1] == '-' {
		return false
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// checkID reports whether id is a quarantine ID: 1 to 64 lower-case hex
// digits, so that it can name a file.
func checkID(id string) error {
	if id == "" || len(id) > 64 {
		return &nameError{ErrBadID, id, "want 1 to 64 lower-case hex digits"}
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return &nameError{ErrBadID, id, "want 1 to 64 lower-case hex digits"}
		}
	}
	return nil
}
