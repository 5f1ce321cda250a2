//! The cells of a CSV record, read from a line's serde serialization, with
//! every text cell neutralised against CSV (formula) injection.
//!
//! A spreadsheet reads a cell that begins with `=`, `+`, `-` or `@` (and,
//! in some, a tab or carriage return before one of them) as a formula: a
//! learner who sends `=HYPERLINK(...)`, or registers as `=cmd|...`, would put
//! a live formula into the analyst's sheet. As OWASP recommends, such a text
//! cell gets a single quote in front (`'=HYPERLINK(...)`), which every
//! spreadsheet shows as text. Only text cells are touched: numbers (a
//! negative count) stay numbers. The NDJSON exports are verbatim.

use serde::Serialize;
use serde::ser::{self, Impossible};

/// The characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `text` as a safe CSV cell: with a `'` in front when it begins with one
/// of [`FORMULA_STARTS`].
pub(crate) fn needs_quote_prefix(text: &str) -> bool {
    text.starts_with(FORMULA_STARTS)
}

/// The cells of one record: one buffer and the end of each cell in it, so
/// that encoding a line allocates nothing once the buffers have grown.
#[derive(Debug, Default)]
pub struct Cells {
    text: String,
    ends: Vec<usize>,
}

impl Cells {
    /// Reads the cells of `line` (a struct of plain fields), replacing
    /// those read before.
    pub(crate) fn read<T: Serialize>(&mut self, line: &T) -> Result<(), Error> {
        self.text.clear();
        self.ends.clear();
        line.serialize(Row(self))
    }

    /// The cells, in field order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let cell = &self.text[start..end];
            start = end;
            cell
        })
    }

    fn push_text(&mut self, text: &str) {
        if needs_quote_prefix(text) {
            self.text.push('\'');
        }
        self.text.push_str(text);
        self.ends.push(self.text.len());
    }

    fn push_plain(&mut self, value: impl std::fmt::Display) {
        use std::fmt::Write;
        let _ = write!(self.text, "{value}");
        self.ends.push(self.text.len());
    }
}

/// A line that is not a struct of plain fields.
#[derive(Debug, thiserror::Error)]
#[error("a CSV line must be a struct of plain fields: {0}")]
pub(crate) struct Error(String);

impl ser::Error for Error {
    fn custom<M: std::fmt::Display>(msg: M) -> Error {
        Error(msg.to_string())
    }
}

fn unsupported<T>(what: &str) -> Result<T, Error> {
    Err(Error(format!("{what} is not a CSV cell")))
}

/// Serializes the line: a struct whose fields are cells.
struct Row<'a>(&'a mut Cells);

/// Serializes one field into one cell.
struct Cell<'a>(&'a mut Cells);

macro_rules! plain {
    ($($method:ident: $ty:ty),* $(,)?) => {$(
        fn $method(self, v: $ty) -> Result<(), Error> {
            self.0.push_plain(v);
            Ok(())
        }
    )*};
}

macro_rules! not_a_cell {
    () => {
        type SerializeSeq = Impossible<(), Error>;
        type SerializeTuple = Impossible<(), Error>;
        type SerializeTupleStruct = Impossible<(), Error>;
        type SerializeTupleVariant = Impossible<(), Error>;
        type SerializeMap = Impossible<(), Error>;
        type SerializeStructVariant = Impossible<(), Error>;

        fn serialize_newtype_struct<T: ?Sized + Serialize>(
            self,
            _: &'static str,
            value: &T,
        ) -> Result<(), Error> {
            value.serialize(self)
        }
        fn serialize_bytes(self, _: &[u8]) -> Result<(), Error> {
            unsupported("bytes")
        }
        fn serialize_newtype_variant<T: ?Sized + Serialize>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<(), Error> {
            unsupported("an enum with data")
        }
        fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
            unsupported("a list")
        }
        fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
            unsupported("a tuple")
        }
        fn serialize_tuple_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleStruct, Error> {
            unsupported("a tuple struct")
        }
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant, Error> {
            unsupported("an enum with data")
        }
        fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
            unsupported("a map")
        }
        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStructVariant, Error> {
            unsupported("an enum with data")
        }
    };
}

impl<'a> ser::Serializer for Cell<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeStruct = Impossible<(), Error>;
    not_a_cell!();

    plain!(
        serialize_bool: bool,
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_i128: i128,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64,
        serialize_u128: u128,
        serialize_f32: f32,
        serialize_f64: f64,
    );

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.0.push_text(v);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.0.push_plain("");
        Ok(())
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.serialize_none()
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_none()
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        unsupported("a nested struct")
    }
}

impl<'a> ser::SerializeStruct for Row<'a> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(Cell(self.0))
    }

    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl<'a> ser::Serializer for Row<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeStruct = Self;
    not_a_cell!();

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Error> {
        Ok(self)
    }

    fn serialize_bool(self, _: bool) -> Result<(), Error> {
        unsupported("a lone value")
    }
    fn serialize_i8(self, _: i8) -> Result<(), Error> {
        unsupported("a lone value")
    }
    fn serialize_i16(self, _: i16) -> Result<(), Error> {
        unsupported("a lone value")
    }
    fn serialize_i32(self, _: i32) -> Result<(), Error> {
        unsupported("a lone value")
    }
    fn serialize_i64(self, _: i64) -> Result<(), Error> {
        unsupported("a lone value")
    }
    fn serialize_u8(self, _: u8) -> Result<(), Error> {
        unsupported("a lone value")
    }
    fn serialize_u16(self, _: u16) -> Result<(), Error> {
        unsupported("a lone value")
    }
    fn serialize_u32(self, _: u32) -> Result<(), Error> {
        unsupported("a lone value")
    }
    fn serialize_u64(self, _: u64) -> Result<(), Error> {
        unsupported("a lone value")
    }
    fn serialize_f32(self, _: f32) -> Result<(), Error> {
        unsupported("a lone value")
    }
    fn serialize_f64(self, _: f64) -> Result<(), Error> {
        unsupported("a lone value")
    }
    fn serialize_char(self, _: char) -> Result<(), Error> {
        unsupported("a lone value")
    }
    fn serialize_str(self, _: &str) -> Result<(), Error> {
        unsupported("a lone value")
    }
    fn serialize_none(self) -> Result<(), Error> {
        unsupported("a lone value")
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<(), Error> {
        unsupported("a lone value")
    }
    fn serialize_unit(self) -> Result<(), Error> {
        unsupported("a lone value")
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        unsupported("a lone value")
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Error> {
        unsupported("a lone value")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Line {
        n: i64,
        signed: i32,
        text: String,
        kind: &'static str,
        maybe: Option<String>,
        ratio: f64,
    }

    fn cells(line: &Line) -> Vec<String> {
        let mut cells = Cells::default();
        cells.read(line).unwrap();
        cells.iter().map(str::to_owned).collect()
    }

    #[test]
    fn text_cells_that_start_a_formula_get_a_quote() {
        let hostile = [
            ("=HYPERLINK(\"http://evil\",\"x\")", true),
            ("+254712345678", true),
            ("-2+3", true),
            ("@SUM(A1)", true),
            ("\t=1", true),
            ("\r=1", true),
            ("plain", false),
            ("", false),
            (" =1", false),
            ("'=1", false),
            ("a=1", false),
        ];
        for (text, quoted) in hostile {
            let got = cells(&Line {
                n: 7,
                signed: -3,
                text: text.to_owned(),
                kind: "=kind",
                maybe: Some(text.to_owned()),
                ratio: -0.5,
            });
            let want = if quoted {
                format!("'{text}")
            } else {
                text.to_owned()
            };
            assert_eq!(
                got,
                ["7", "-3", want.as_str(), "'=kind", want.as_str(), "-0.5"],
                "{text:?}"
            );
        }
        let none = cells(&Line {
            n: 0,
            signed: 0,
            text: String::new(),
            kind: "k",
            maybe: None,
            ratio: 0.0,
        });
        assert_eq!(none, ["0", "0", "", "k", "", "0"]);
    }

    #[test]
    fn only_flat_structs_are_lines() {
        #[derive(Serialize)]
        struct Nested {
            list: Vec<i32>,
        }
        let mut cells = Cells::default();
        assert!(cells.read(&Nested { list: vec![1] }).is_err());
        assert!(cells.read(&5).is_err());
    }
}
