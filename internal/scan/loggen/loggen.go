// Package loggen writes a synthetic application log with sparse personal
// data, for benchmarks and for measuring the scanner against known labels.
// Output depends only on the seed.
package loggen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"
)

// PII is how many lines in a thousand carry one personal value.
const PII = 5

var (
	methods = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	paths   = []string{"/api/v1/orders/", "/api/v1/products/", "/api/v1/carts/", "/static/app.", "/api/v2/search?q=shoes&page=", "/healthz?n="}
	levels  = []string{"INFO ", "INFO ", "INFO ", "DEBUG", "WARN "}
	agents  = []string{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0.6099.109 Safari/537.36",
		"curl/8.5.0", "okhttp/4.12.0", "Go-http-client/2.0", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Version/17.4 Mobile/15E148"}
	noise  = []string{"cache=hit", "cache=miss", "retry=0", "version=1.4.22.1903", "build=20240517.1", "pool=db-primary", "shard=7"}
	first  = []string{"Anna", "John", "Maria", "Peter", "Olivia", "James", "Priya", "Lucas"}
	last   = []string{"Smith", "Garcia", "Schmidt", "Brown", "Patel", "Rossi", "Novak", "Wilson"}
	cards  = []string{"4111111111111111", "5555 5555 5555 4444", "378282246310005", "6011111111111117", "4012888888881881"}
	ibans  = []string{"DE89370400440532013000", "GB82WEST12345698765432", "NL91ABNA0417164300", "FR1420041010050500013M02606"}
	phones = []string{"+1 415 555 2671", "+44 20 7946 0958", "+49 30 901820", "+33 1 42 68 53 00", "+61 2 9374 4000"}
)

// Write writes about size bytes of log. label, when not nil, hears each
// personal value written: its line (from 1) and entity name as package pii
// spells it.
func Write(w io.Writer, size int64, seed uint64, label func(line int, entity string)) error {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	bw := bufio.NewWriterSize(w, 1<<16)
	t := time.Date(2024, 5, 17, 10, 0, 0, 0, time.UTC)
	var line []byte
	var written int64
	for n := 1; written < size; n++ {
		t = t.Add(time.Duration(rng.IntN(5000)) * time.Microsecond)
		line = t.AppendFormat(line[:0], "2006-01-02T15:04:05.000Z07:00")
		line = append(line, ' ')
		line = append(line, levels[rng.IntN(len(levels))]...)
		line = append(line, " http method="...)
		line = append(line, methods[rng.IntN(len(methods))]...)
		line = append(line, " path="...)
		line = append(line, paths[rng.IntN(len(paths))]...)
		line = strconv.AppendInt(line, int64(rng.IntN(1_000_000)), 10)
		line = append(line, " status="...)
		line = strconv.AppendInt(line, int64([]int{200, 200, 200, 201, 204, 304, 404, 500}[rng.IntN(8)]), 10)
		line = append(line, " duration_ms="...)
		line = strconv.AppendFloat(line, float64(rng.IntN(100000))/100, 'f', 2, 64)
		line = append(line, " bytes="...)
		line = strconv.AppendInt(line, int64(rng.IntN(200000)), 10)
		line = fmt.Appendf(line, " request_id=%08x-%04x-4%03x-a%03x-%012x", rng.Uint32(), rng.IntN(1<<16), rng.IntN(1<<12), rng.IntN(1<<12), rng.Uint64()&(1<<48-1))
		line = append(line, ' ')
		line = append(line, noise[rng.IntN(len(noise))]...)
		line = fmt.Appendf(line, " trace=%016x", rng.Uint64())
		if rng.IntN(1000) < PII {
			kind, v := personal(rng)
			line = append(line, ' ')
			line = append(line, v...)
			if label != nil {
				label(n, kind)
			}
		}
		line = append(line, ` ua="`...)
		line = append(line, agents[rng.IntN(len(agents))]...)
		line = append(line, "\"\n"...)
		m, err := bw.Write(line)
		if err != nil {
			return err
		}
		written += int64(m)
	}
	return bw.Flush()
}

func personal(rng *rand.Rand) (kind, text string) {
	switch rng.IntN(8) {
	case 0:
		return "email", fmt.Sprintf("user=%s.%s%d@example.com", first[rng.IntN(len(first))], last[rng.IntN(len(last))], rng.IntN(1000))
	case 1:
		return "ipv4", fmt.Sprintf("client=203.0.%d.%d", rng.IntN(256), 1+rng.IntN(254))
	case 2:
		return "phone", "sms_to=" + phones[rng.IntN(len(phones))]
	case 3:
		return "card", "card=" + cards[rng.IntN(len(cards))]
	case 4:
		return "iban", "iban=" + ibans[rng.IntN(len(ibans))]
	case 5:
		return "ipv6", fmt.Sprintf("client=2001:db8:%x::%x", rng.IntN(1<<16), 1+rng.IntN(1<<16-1))
	case 6:
		return "person_name", fmt.Sprintf("customer=\"%s %s\"", first[rng.IntN(len(first))], last[rng.IntN(len(last))])
	default:
		return "date_of_birth", fmt.Sprintf("dob=19%02d-%02d-%02d", 40+rng.IntN(60), 1+rng.IntN(12), 1+rng.IntN(28))
	}
}
