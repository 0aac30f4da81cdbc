package pii

import (
	_ "embed"
	"strings"
)

//go:embed names.txt
var namesTxt string

var firstNames, lastNames = loadNames(namesTxt)

func loadNames(txt string) (first, last map[string]bool) {
	first, last = map[string]bool{}, map[string]bool{}
	cur := first
	for line := range strings.Lines(txt) {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#':
		case line == "[first]":
			cur = first
		case line == "[last]":
			cur = last
		default:
			for _, w := range strings.Fields(line) {
				cur[w] = true
			}
		}
	}
	return first, last
}

var (
	nameWords = []string{"name", "dear", "mr", "mrs", "ms", "dr.", "customer", "contact", "signed", "attn",
		"patient", "employee", "user ", "hello", "hi "}
	// Capitalised words that follow a first name without being a surname.
	notSurname = map[string]bool{"Street": true, "Avenue": true, "Road": true, "Lane": true, "Inc": true,
		"Ltd": true, "Corp": true, "Company": true, "The": true, "And": true, "Of": true, "Error": true,
		"Warning": true, "Info": true, "Debug": true, "Monday": true, "Tuesday": true, "Wednesday": true,
		"Thursday": true, "Friday": true, "Saturday": true, "Sunday": true, "Hospital": true, "University": true,
		"School": true, "Bank": true, "Group": true, "Foundation": true, "Project": true, "Station": true}
)

// nameWord returns the end of a capitalised name word at i ("Smith",
// "O'Brien", "Smith-Jones", "José"), or i when there is none.
func nameWord(t []byte, i int) int {
	if i >= len(t) || !isUpper(t[i]) {
		return i
	}
	j := i + 1
	for j < len(t) {
		c := t[j]
		switch {
		case isLower(c) || c >= 0x80:
			j++
		case isUpper(c) && j > i+1: // McDonald
			j++
		case (c == '\'' || c == '-') && j+1 < len(t) && isUpper(t[j+1]):
			j++
		default:
			goto done
		}
	}
done:
	if j-i < 2 || j-i > 24 || (j < len(t) && (isDigit(t[j]) || t[j] == '_')) {
		return i
	}
	return j
}

// upperWord handles a word that starts with an upper-case letter at i: an
// IBAN or the first name of a full name.
func (s *Scanner) upperWord(t []byte, i int, hint Hint, emit func(Match)) int {
	if s.entities.Has(IBAN) && i+3 < len(t) && isDigit(t[i+2]) {
		if end, ok := ibanAt(t, i); ok {
			emit(Match{Entity: IBAN, Start: i, End: end, Confidence: 0.95})
			return end
		}
	}
	if s.entities.Has(Name) {
		if end, conf := fullName(t, i, hint); conf > 0 {
			emit(Match{Entity: Name, Start: i, End: end, Confidence: conf})
			return end
		}
	}
	return skipWord(t, i)
}

// fullName reads "First Last" at i: a first name from the dictionary and a
// capitalised surname. Either the surname is in the dictionary too or the
// context says a name follows.
func fullName(t []byte, i int, hint Hint) (end int, conf float64) {
	e1 := nameWord(t, i)
	if e1 == i || !firstNames[string(t[i:e1])] {
		return 0, 0
	}
	if e1+1 >= len(t) || t[e1] != ' ' {
		return 0, 0
	}
	e2 := nameWord(t, e1+1)
	if e2 == e1+1 {
		return 0, 0
	}
	last := string(t[e1+1 : e2])
	if notSurname[last] || (e2 < len(t) && (t[e2] == '@' || t[e2] == '.' && e2+1 < len(t) && isWord(t[e2+1]))) {
		return 0, 0
	}
	ctx := hint&HintName != 0 || contextBefore(t, i, 24, nameWords)
	switch {
	case lastNames[last] && ctx:
		return e2, 0.85
	case ctx:
		return e2, 0.7
	case lastNames[last]:
		return e2, 0.65
	}
	return 0, 0
}

// nameField reads a whole value from a name column: one to four
// capitalised words. It is a name for sure when a word is in the
// dictionary, and only possibly one otherwise.
func nameField(t []byte) (start, end int, conf float64) {
	start, end = 0, len(t)
	for start < end && (t[start] == ' ' || t[start] == '"') {
		start++
	}
	for end > start && (t[end-1] == ' ' || t[end-1] == '"' || t[end-1] == '\n' || t[end-1] == '\r') {
		end--
	}
	words, known := 0, false
	for j := start; j < end; {
		e := nameWord(t, j)
		if e == j {
			return 0, 0, 0
		}
		w := string(t[j:e])
		if firstNames[w] || lastNames[w] {
			known = true
		}
		words++
		j = e
		if j < end {
			if t[j] != ' ' {
				return 0, 0, 0
			}
			j++
		}
	}
	switch {
	case words == 0 || words > 4:
		return 0, 0, 0
	case known:
		return start, end, 0.85
	}
	return start, end, 0.55
}
