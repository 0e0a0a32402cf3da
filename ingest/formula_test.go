package ingest

import "testing"

func TestShiftFormulaRows(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"E2/D2", "E3/D3"},
		{"SUM(A2:C2)*$B$1", "SUM(A3:C3)*$B$1"},
		{"IF(A2>0,\"row 2\",B$2)", "IF(A3>0,\"row 2\",B$2)"},
		{"'Other Sheet'!A2+Sheet2!$A2", "'Other Sheet'!A3+Sheet2!$A3"},
		{"SUM(A:A)+TaxRate", "SUM(A:A)+TaxRate"},
	} {
		got, ok := shiftFormulaRows(tt.in, 1)
		if !ok || got != tt.want {
			t.Errorf("shift %q: %q %v, want %q", tt.in, got, ok, tt.want)
		}
	}
}
