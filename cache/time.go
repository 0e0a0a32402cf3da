package cache

// ParseTime reads an ISO 8601 date or date-time and returns it in milliseconds since the Unix
// epoch. It accepts what spreadsheets and Wix send: YYYY-MM-DD, optionally followed by T or a
// space and hh:mm, hh:mm:ss or hh:mm:ss.fraction, optionally followed by Z or an offset
// (±hh:mm, ±hhmm, ±hh). A value without an offset is read as UTC. Fractions finer than a
// millisecond are truncated. It is hand-written because it runs once per cell on load, where
// time.Parse with several layouts would dominate the cost.
func ParseTime(s string) (int64, bool) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return 0, false
	}
	ms := daysFromCivil(year, month, day) * 86400000
	rest := s[10:]
	if rest == "" {
		return ms, true
	}
	if rest[0] != 'T' && rest[0] != 't' && rest[0] != ' ' {
		return 0, false
	}
	rest = rest[1:]
	if len(rest) < 5 || rest[2] != ':' {
		return 0, false
	}
	hour, ok1 := digits(rest[0:2])
	minute, ok2 := digits(rest[3:5])
	if !ok1 || !ok2 || hour > 23 || minute > 59 {
		return 0, false
	}
	ms += int64(hour)*3600000 + int64(minute)*60000
	rest = rest[5:]
	if len(rest) >= 3 && rest[0] == ':' {
		sec, ok := digits(rest[1:3])
		if !ok || sec > 59 {
			return 0, false
		}
		ms += int64(sec) * 1000
		rest = rest[3:]
		if len(rest) >= 2 && (rest[0] == '.' || rest[0] == ',') {
			i := 1
			frac, scale := 0, 100
			for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
				frac += int(rest[i]-'0') * scale
				scale /= 10
				i++
			}
			if i == 1 {
				return 0, false
			}
			ms += int64(frac)
			rest = rest[i:]
		}
	}
	switch {
	case rest == "" || rest == "Z" || rest == "z":
		return ms, true
	case rest[0] == '+' || rest[0] == '-':
		sign := int64(1)
		if rest[0] == '-' {
			sign = -1
		}
		rest = rest[1:]
		var oh, om int
		var ok bool
		switch len(rest) {
		case 2:
			oh, ok = digits(rest)
		case 4:
			oh, ok = digits(rest[0:2])
			if ok {
				om, ok = digits(rest[2:4])
			}
		case 5:
			if rest[2] != ':' {
				return 0, false
			}
			oh, ok = digits(rest[0:2])
			if ok {
				om, ok = digits(rest[3:5])
			}
		}
		if !ok || oh > 23 || om > 59 {
			return 0, false
		}
		return ms - sign*(int64(oh)*3600000+int64(om)*60000), true
	}
	return 0, false
}

// AppendTime appends ms as YYYY-MM-DDThh:mm:ss.sssZ, the form Wix's {"$date": ...} carries.
func AppendTime(b []byte, ms int64) []byte {
	days := ms / 86400000
	rem := ms % 86400000
	if rem < 0 {
		rem += 86400000
		days--
	}
	y, m, d := civilFromDays(days)
	if y < 0 || y > 9999 {
		// outside what ISO 8601 basic form carries; clamp rather than write garbage
		if y < 0 {
			y, m, d, rem = 0, 1, 1, 0
		} else {
			y, m, d, rem = 9999, 12, 31, 86399999
		}
	}
	b = append4(b, y)
	b = append(b, '-')
	b = append2(b, m)
	b = append(b, '-')
	b = append2(b, d)
	b = append(b, 'T')
	b = append2(b, int(rem/3600000))
	b = append(b, ':')
	b = append2(b, int(rem/60000%60))
	b = append(b, ':')
	b = append2(b, int(rem/1000%60))
	b = append(b, '.')
	millis := int(rem % 1000)
	b = append(b, byte('0'+millis/100), byte('0'+millis/10%10), byte('0'+millis%10))
	return append(b, 'Z')
}

func append2(b []byte, n int) []byte { return append(b, byte('0'+n/10%10), byte('0'+n%10)) }

func append4(b []byte, n int) []byte {
	return append(b, byte('0'+n/1000%10), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil and civilFromDays are Howard Hinnant's algorithms for the proleptic Gregorian
// calendar (http://howardhinnant.github.io/date_algorithms.html).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

func civilFromDays(z int64) (int, int, int) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return int(y), int(m), int(d)
}
