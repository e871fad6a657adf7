package kafkatest

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParseKcat(t *testing.T) {
	const head = `{"topic":"t","partition":1,"offset":`
	good := head + `7,"tstype":"create","ts":1796527074682,"broker":0,"headers":["h1","v,=1","h2",null],"key":"k\t1","payload":"a\u0000b` + "\xff\xfe" + `\"\\\/c\n\ud83d\ude00é"}` + "\n" +
		head + `9,"tstype":"create","ts":1,"broker":0,"key":null,"payload":null}` + "\n"
	msgs, err := parseKcat(bufio.NewReader(strings.NewReader(good)), "t", 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	m := msgs[0]
	if m.Partition != 1 || m.Offset != 7 || string(m.Key) != "k\t1" || !bytes.Equal(m.Value, []byte("a\x00b\xff\xfe\"\\/c\n😀é")) ||
		len(m.Headers) != 2 || m.Headers[0].Key != "h1" || string(m.Headers[0].Value) != "v,=1" ||
		m.Headers[1].Key != "h2" || m.Headers[1].Value != nil || m.Time.UnixMilli() != 1796527074682 {
		t.Errorf("first message %+v", m)
	}
	if m := msgs[1]; m.Offset != 9 || m.Key != nil || m.Value != nil {
		t.Errorf("second message %+v, want null key and value", m)
	}

	for _, bad := range []string{
		`{"topic":"u","partition":1,"offset":7,"payload":"x"}`,  // another topic
		`{"topic":"t","partition":2,"offset":7,"payload":"x"}`,  // another partition
		`{"topic":"t","partition":1,"offset":5,"payload":"x"}`,  // not after the start
		`{"topic":"t","partition":1,"offset":7}`,                // no payload field
		`{"topic":"t","partition":1,"offset":7,"payload":"x}`,   // unterminated
		`{"topic":"t","partition":1,"offset":7,"payload":"\q"}`, // bad escape
		`{"topic":"t","partition":1,"offset":7,"payload":"x","headers":["k"]}`,
		`{"topic":"t","partition":1,"offset":7,"payload":"x"} trailing`,
		`% ERROR: something kcat says`,
	} {
		_, err := parseKcat(bufio.NewReader(strings.NewReader(bad+"\n")), "t", 1, 6)
		if !errors.Is(err, errMalformed) {
			t.Errorf("parseKcat(%s) = %v, want errMalformed", bad, err)
		}
	}
	repeated := head + `7,"payload":"a"}` + "\n" + head + `7,"payload":"a"}` + "\n"
	if msgs, err := parseKcat(bufio.NewReader(strings.NewReader(repeated)), "t", 1, 0); !errors.Is(err, errMalformed) || len(msgs) != 1 {
		t.Errorf("a repeated offset: %d messages, %v; want 1 and errMalformed", len(msgs), err)
	}
}
