//! The test harness's own helpers: CSV parsing and the float-tolerant row
//! comparison every result check relies on.

use kiln_tests::{compare_rows, parse_csv};

#[test]
fn csv_and_tolerance() {
    let (h, rows) = parse_csv("a,b\n1,\"x,y\"\n2.0000000001,z\n");
    assert_eq!(h, vec!["a", "b"]);
    assert_eq!(rows[0][1], "x,y");
    assert!(compare_rows(&vec![vec!["2".into(), "z".into()]], &vec![rows[1].clone()]).is_ok());
    assert!(compare_rows(
        &vec![vec!["2.1".into(), "z".into()]],
        &vec![rows[1].clone()]
    )
    .is_err());
}
