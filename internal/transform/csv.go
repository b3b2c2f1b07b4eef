package transform

import "bytes"

// splitCSV appends the fields of one CSV record (RFC 4180: a field may be quoted, and a quote
// inside a quoted field is doubled) to dst. Fields are kept as written, quotes included, so
// that a filtered or joined record repeats them exactly.
func splitCSV(line []byte, dst [][]byte) [][]byte {
	for {
		i := 0
		if len(line) > 0 && line[0] == '"' {
			i = 1
			for i < len(line) {
				if line[i] == '"' {
					if i+1 < len(line) && line[i+1] == '"' {
						i += 2
						continue
					}
					i++
					break
				}
				i++
			}
		}
		j := bytes.IndexByte(line[i:], ',')
		if j < 0 {
			return append(dst, line)
		}
		dst = append(dst, line[:i+j])
		line = line[i+j+1:]
	}
}

// appendCSVRecord writes fields separated by commas.
func appendCSVRecord(dst []byte, fields [][]byte) []byte {
	for i, f := range fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, f...)
	}
	return dst
}

// appendCSVField writes s as one CSV field, quoting it when it holds a comma, a quote or a line
// break.
func appendCSVField(dst, s []byte) []byte {
	if !bytes.ContainsAny(s, ",\"\r\n") {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for _, c := range s {
		if c == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}
