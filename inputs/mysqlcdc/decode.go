package mysqlcdc

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/pipelinehq/pipeline/internal/sqldb"
	"github.com/shopspring/decimal"
)

// binaryCollation is the collation id of binary strings (BINARY,
// VARBINARY, BLOB): their bytes are not text.
const binaryCollation = 63

// column is a captured column and how a value of it becomes a record
// value.
type column struct {
	name    string
	convert func(any) (any, error)
}

// binlogColumns are the columns of a table as a row event describes it:
// each binlog value is first made what the MySQL driver returns for the
// same column (so that a snapshot read and a streamed change of the same
// row are the same record), then mapped as sql_poll maps it.
func binlogColumns(tm *replication.TableMapEvent, m sqldb.Mapping) ([]column, error) {
	names := tm.ColumnNameString()
	if len(names) != int(tm.ColumnCount) {
		return nil, fmt.Errorf("the binlog names no columns of %s.%s: binlog_row_metadata was not FULL when it was written", tm.Schema, tm.Table)
	}
	unsigned := tm.UnsignedMap()
	collations := tm.CollationMap()
	enums, sets := tm.EnumStrValueMap(), tm.SetStrValueMap()
	cols := make([]column, len(names))
	for i, name := range names {
		cols[i] = column{name: name, convert: binlogConverter(tm, i, m, unsigned[i], collations[i], enums[i], sets[i])}
	}
	return cols, nil
}

func binlogConverter(tm *replication.TableMapEvent, i int, m sqldb.Mapping, unsigned bool, collation uint64, enum, set []string) func(any) (any, error) {
	via := func(typeName string, prepare func(any) (any, error)) func(any) (any, error) {
		conv := m.Converter(typeName)
		return func(v any) (any, error) {
			if v == nil {
				return nil, nil
			}
			p, err := prepare(v)
			if err != nil {
				return nil, err
			}
			return conv(p)
		}
	}
	switch {
	case tm.IsEnumColumn(i):
		return via("ENUM", func(v any) (any, error) { return enumName(v, enum) })
	case tm.IsSetColumn(i):
		return via("SET", func(v any) (any, error) { return setNames(v, set) })
	}
	meta := tm.ColumnMeta[i]
	switch tm.ColumnType[i] {
	case mysql.MYSQL_TYPE_TINY, mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_INT24, mysql.MYSQL_TYPE_LONG,
		mysql.MYSQL_TYPE_LONGLONG, mysql.MYSQL_TYPE_YEAR:
		return via("BIGINT", func(v any) (any, error) { return integer(v, unsigned) })
	case mysql.MYSQL_TYPE_FLOAT:
		return via("FLOAT", same)
	case mysql.MYSQL_TYPE_DOUBLE:
		return via("DOUBLE", same)
	case mysql.MYSQL_TYPE_NEWDECIMAL:
		scale := int32(meta & 0xff)
		return via("DECIMAL", func(v any) (any, error) {
			d, ok := v.(decimal.Decimal)
			if !ok {
				return nil, fmt.Errorf("a DECIMAL value of %T", v)
			}
			return d.StringFixed(scale), nil
		})
	case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_NEWDATE:
		return via("DATE", func(v any) (any, error) { return parseTime(v, time.DateOnly) })
	case mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_DATETIME2:
		return via("DATETIME", func(v any) (any, error) { return parseTime(v, "2006-01-02 15:04:05.999999") })
	case mysql.MYSQL_TYPE_TIMESTAMP, mysql.MYSQL_TYPE_TIMESTAMP2:
		return via("TIMESTAMP", func(v any) (any, error) { return parseTime(v, "2006-01-02 15:04:05.999999") })
	case mysql.MYSQL_TYPE_BIT:
		size := int((meta>>8)*8+meta&0xff+7) / 8
		return via("BIT", func(v any) (any, error) { return bitBytes(v, size) })
	case mysql.MYSQL_TYPE_JSON:
		return via("JSON", bytesOf)
	case mysql.MYSQL_TYPE_GEOMETRY:
		return via("GEOMETRY", bytesOf)
	case mysql.MYSQL_TYPE_BLOB, mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING, mysql.MYSQL_TYPE_STRING:
		if collation == binaryCollation {
			return via("BLOB", bytesOf)
		}
		return via("TEXT", bytesOf)
	}
	return via("TEXT", func(v any) (any, error) { return fmt.Sprint(v), nil })
}

func same(v any) (any, error) { return v, nil }

// integer is a binlog integer as the driver returns it: int64, or uint64
// for an unsigned column (the binlog holds its bits as signed).
func integer(v any, unsigned bool) (any, error) {
	// The binlog holds a column's bits; go-mysql reads them signed unless it
	// knows the column is unsigned, so the bits are read again as unsigned.
	switch x := v.(type) {
	case int8:
		return signedOrNot(int64(x), uint64(uint8(x)), unsigned), nil
	case int16:
		return signedOrNot(int64(x), uint64(uint16(x)), unsigned), nil
	case int32:
		return signedOrNot(int64(x), uint64(uint32(x)), unsigned), nil
	case int64:
		if unsigned {
			return uint64(x), nil // above 2^63-1 it stays unsigned, exact
		}
		return x, nil
	case int:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint64:
		return x, nil
	}
	return nil, fmt.Errorf("an integer value of %T", v)
}

// signedOrNot is an integer of at most 32 bits, which int64 holds either way.
func signedOrNot(signed int64, bits uint64, unsigned bool) int64 {
	if unsigned {
		return int64(bits)
	}
	return signed
}

// parseTime reads go-mysql's text of a date or time (zero dates as Go's
// zero time, which the mapping makes NULL, as the driver's zero time).
func parseTime(v any, layout string) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("a time value of %T", v)
	}
	if strings.HasPrefix(s, "0000-00-00") {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(layout, s, time.UTC)
	if err != nil {
		return nil, fmt.Errorf("time %q: %w", s, err)
	}
	return t, nil
}

func bytesOf(v any) (any, error) {
	switch x := v.(type) {
	case []byte:
		return append([]byte(nil), x...), nil // go-mysql's bytes alias its event buffer
	case string:
		return []byte(x), nil
	}
	return nil, fmt.Errorf("a string value of %T", v)
}

// bitBytes is a BIT value as the driver returns it: big-endian bytes, as
// many as the column's width needs.
func bitBytes(v any, size int) (any, error) {
	n, ok := v.(int64)
	if !ok {
		return nil, fmt.Errorf("a BIT value of %T", v)
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	return append([]byte(nil), b[8-min(max(size, 1), 8):]...), nil
}

// enumName is an ENUM's name: the binlog holds its 1-based index; 0 is
// the empty string MySQL stores for an invalid value.
func enumName(v any, names []string) (any, error) {
	i, ok := v.(int64)
	if !ok {
		return nil, fmt.Errorf("an ENUM value of %T", v)
	}
	if i == 0 {
		return "", nil
	}
	if i < 0 || int(i) > len(names) {
		return nil, fmt.Errorf("ENUM index %d of %d names", i, len(names))
	}
	return names[i-1], nil
}

// setNames is a SET's names, comma-separated in the column's order, as
// the server writes them: the binlog holds a bit mask.
func setNames(v any, names []string) (any, error) {
	mask, ok := v.(int64)
	if !ok {
		return nil, fmt.Errorf("a SET value of %T", v)
	}
	var parts []string
	for i := 0; i < len(names) && i < 64; i++ {
		if uint64(mask)&(1<<uint(i)) != 0 {
			parts = append(parts, names[i])
		}
	}
	if len(names) < 64 && uint64(mask)>>uint(len(names)) != 0 {
		return nil, fmt.Errorf("SET mask %#x beyond its %d names", mask, len(names))
	}
	return strings.Join(parts, ","), nil
}

// keyColumns are the names of the table's primary key, as the binlog gives
// it (so that an ALTER TABLE that changes the key is followed).
func keyColumns(tm *replication.TableMapEvent, cols []column) []string {
	var key []string
	for _, i := range tm.PrimaryKey {
		if int(i) < len(cols) {
			key = append(key, cols[i].name)
		}
	}
	return key
}
