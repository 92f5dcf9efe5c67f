//! One page of a list.

use serde::{Deserialize, Serialize};

/// One page of a list: the JSON shape of every list route,
/// `{items, page, page_size, total, next}`.
///
/// `total` is absent when the client asked for `?total=false`. `next` is
/// the cursor of the following page (`?after=<next>`), `null` on the last.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Page<T> {
    /// The rows of this page, in list order.
    pub items: Vec<T>,
    /// The 1-based page number.
    pub page: u64,
    /// The page size asked for (the last page may hold fewer items).
    pub page_size: u64,
    /// How many rows match, over all pages.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total: Option<u64>,
    /// The cursor of the page after this one, `None` on the last page.
    #[serde(default)]
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Page number `page` of `page_size` rows, holding `items`, of `total`
    /// rows over all pages when it was counted.
    pub fn new(items: Vec<T>, page: u64, page_size: u64, total: Option<u64>) -> Page<T> {
        Page { items, page, page_size, total, next: None }
    }

    /// The same page, with the cursor of the page after it.
    pub fn with_next(mut self, next: Option<String>) -> Page<T> {
        self.next = next;
        self
    }

    /// The same page with each item converted by a conversion that may
    /// fail: the first failure.
    pub fn try_map<U, E>(self, convert: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        let items = self.items.into_iter().map(convert).collect::<Result<Vec<U>, E>>()?;
        Ok(Page { items, page: self.page, page_size: self.page_size, total: self.total, next: self.next })
    }

    /// The same page with each item converted, e.g. a row into its view.
    pub fn map<U>(self, convert: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(convert).collect(),
            page: self.page,
            page_size: self.page_size,
            total: self.total,
            next: self.next,
        }
    }
}
