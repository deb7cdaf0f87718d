package ec2sim

import (
	"bytes"
	"sort"
	"strconv"
	"time"
)

// xmlWriter writes the small, regular XML of EC2 responses without
// reflection: describes are on the hot path of every reconcile.
type xmlWriter struct{ b bytes.Buffer }

func newXMLWriter() *xmlWriter {
	w := &xmlWriter{}
	w.b.Grow(1024)
	return w
}

func (w *xmlWriter) raw(s string)  { w.b.WriteString(s) }
func (w *xmlWriter) open(n string) { w.b.WriteByte('<'); w.b.WriteString(n); w.b.WriteByte('>') }
func (w *xmlWriter) close(n string) {
	w.b.WriteString("</")
	w.b.WriteString(n)
	w.b.WriteByte('>')
}

// elem writes <n>text</n>, escaping text.
func (w *xmlWriter) elem(n, text string) {
	w.open(n)
	escape(&w.b, text)
	w.close(n)
}

// opt writes elem only when text is not empty.
func (w *xmlWriter) opt(n, text string) {
	if text != "" {
		w.elem(n, text)
	}
}

func (w *xmlWriter) boolean(n string, v bool) { w.elem(n, strconv.FormatBool(v)) }
func (w *xmlWriter) integer(n string, v int)  { w.elem(n, strconv.Itoa(v)) }
func (w *xmlWriter) timestamp(n string, t time.Time) {
	w.elem(n, t.UTC().Format("2006-01-02T15:04:05.000Z"))
}

// strings writes <n><item>v</item>...</n>.
func (w *xmlWriter) strings(n string, vs []string) {
	w.open(n)
	for _, v := range vs {
		w.elem("item", v)
	}
	w.close(n)
}

// tags writes a tagSet in key order.
func (w *xmlWriter) tags(t map[string]string) {
	w.open("tagSet")
	for _, k := range sortedKeys(t) {
		w.open("item")
		w.elem("key", k)
		w.elem("value", t[k])
		w.close("item")
	}
	w.close("tagSet")
}

func (w *xmlWriter) bytes() []byte { return w.b.Bytes() }

func escape(b *bytes.Buffer, s string) {
	last := 0
	for i := range len(s) {
		var rep string
		switch s[i] {
		case '&':
			rep = "&amp;"
		case '<':
			rep = "&lt;"
		case '>':
			rep = "&gt;"
		case '"':
			rep = "&quot;"
		case '\'':
			rep = "&apos;"
		case '\r':
			rep = "&#xD;"
		default:
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(rep)
		last = i + 1
	}
	b.WriteString(s[last:])
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
