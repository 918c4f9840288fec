//! Dataset readers on the real files under `../shared/data` (counts from its README, one known
//! record per source, looked up by hand in the files), the domain-folder round trip, and bad input
//! (every error names the file and line). Real-data tests print SKIP and pass when the data is absent.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use recfound::data::domain::{Candidate, DomainFolder, DomainItem, DomainSequence, UnknownItems};
use recfound::data::export::{self, DomainSource};
use recfound::data::{
    DataError, amazon_google, amazon_lcrec, amazon_minionerec, amazon_qa, amazon_reviews, goodbooks, lastfm, movielens,
    mudoco, steam,
};

/// `../shared/data/<rel>`, or `None` (after printing SKIP) when it is absent.
fn data(rel: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(rel);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("SKIP: {} is absent", path.display());
        None
    }
}

#[test]
fn movielens_counts_and_a_quoted_title() {
    let Some(dir) = data("movielens/ml-latest-small") else { return };
    let ml = movielens::MovieLens::read(&dir).unwrap();
    assert_eq!(ml.ratings.len(), 100_836);
    assert_eq!(ml.ratings.iter().map(|r| r.user_id).collect::<HashSet<_>>().len(), 610);
    assert_eq!(ml.movies.len(), 9_742);
    // First data line: 1,1,4.0,964982703 (CRLF stripped).
    assert_eq!(ml.ratings[0], movielens::Rating { user_id: 1, movie_id: 1, rating: 4.0, timestamp: 964_982_703 });
    // "11,"American President, The (1995)",Comedy|Drama|Romance": a comma inside quotes.
    let m = ml.movies.iter().find(|m| m.movie_id == 11).unwrap();
    assert_eq!(m.title, "American President, The (1995)");
    assert_eq!(m.genres, ["Comedy", "Drama", "Romance"]);
    assert_eq!(ml.movies.iter().filter(|m| m.genres.is_empty()).count(), 34); // "(no genres listed)"
}

#[test]
fn amazon_scientific_lcrec_layout() {
    let Some(dir) = data("amazon/scientific") else { return };
    let items = amazon_lcrec::read_items(&dir.join("Scientific.item.json")).unwrap();
    let seqs = amazon_lcrec::read_sequences(&dir.join("Scientific.inter.json")).unwrap();
    assert_eq!(items.len(), 4_344);
    assert_eq!(seqs.len(), 8_317);
    assert_eq!(seqs.iter().map(|s| s.item_ids.len()).sum::<usize>(), 58_492);
    assert_eq!(items[0].item_id, "0"); // numeric order, not "0", "1", "10", ...
    assert_eq!(items[0].brand.as_deref(), Some("Sealed Unit Parts Co., Inc."));
    assert_eq!(items[0].categories[..2], ["Industrial & Scientific", "Industrial Electrical"]);
    // Item 5's path has a level with its own comma: "...,Tapes, Adhesives & Sealants,...".
    assert_eq!(items[5].categories, ["Industrial & Scientific", "Tapes, Adhesives & Sealants", "Cyanoacrylate Adhesives"]);
    assert_eq!(seqs[1].user_id, "1");
    assert_eq!(seqs[1].item_ids, ["9", "10", "11", "12", "6"]);
}

#[test]
fn amazon_office_minionerec_csv_with_python_lists() {
    let Some(dir) = data("amazon/office") else { return };
    let items = amazon_lcrec::read_items(&dir.join("Office_Products.item.json")).unwrap();
    assert_eq!(items.len(), 3_459);
    let rows = amazon_minionerec::read_rows(&dir.join("Office_Products_test.csv")).unwrap();
    assert_eq!(rows.len(), 4_866);
    let r = &rows[0];
    assert_eq!(r.user_id, "A1179");
    assert_eq!((r.item_id, r.history_item_ids.len()), (1595, 9));
    // A title holding both a comma and a `"` (doubled in the CSV, kept by Python's repr).
    assert_eq!(
        r.history_item_titles[0],
        "Pendaflex Insertable Plastic Tabs Hanging Folder Tabs, 2\", Clear, 25 Tabs and Inserts per Pack (42)"
    );
    assert_eq!(r.history_item_ids[..3], [384, 289, 151]);
    assert_eq!(r.history_item_sids[0], "<a_55><b_205><c_143>");
    assert_eq!(r.item_sid.as_deref(), Some("<a_183><b_194><c_122>"));
    assert!(rows.iter().all(|r| r.history_item_ids.len() <= 10));
    assert_eq!(amazon_minionerec::read_rows(&dir.join("Office_Products_valid.csv")).unwrap().len(), 4_866);
}

#[test]
fn amazon_reviews_gzipped_json_lines() {
    let Some(path) = data("amazon/musical_instruments/reviews_Musical_Instruments_5.json.gz") else { return };
    let reviews = amazon_reviews::read_reviews(&path).unwrap();
    assert_eq!(reviews.len(), 10_261);
    assert_eq!(reviews.iter().filter(|r| r.overall == 5.0).count(), 6_938);
    assert_eq!(reviews.iter().filter(|r| r.reviewer_name.is_none()).count(), 27);
    let r = &reviews[1];
    assert_eq!((r.reviewer_id.as_str(), r.asin.as_str()), ("A14VAT5EAX3D9S", "1384719342"));
    assert_eq!((r.helpful, r.overall, r.unix_review_time), ([13, 14], 5.0, 1_363_392_000));
    assert_eq!(r.summary, "Jake");
}

#[test]
fn amazon_qa_python_dict_lines() {
    let Some(path) = data("amazon/qa/qa_Appliances.json.gz") else { return };
    let pairs = amazon_qa::read_pairs(&path).unwrap();
    assert_eq!(pairs.len(), 9_011);
    let yes_no = pairs.iter().filter(|p| p.question_type == amazon_qa::QuestionType::YesNo).count();
    assert_eq!((yes_no, pairs.len() - yes_no), (4_693, 4_318));
    assert_eq!(pairs.iter().filter(|p| p.answer_type == Some(amazon_qa::AnswerType::Yes)).count(), 1_655);
    assert_eq!(pairs.iter().filter(|p| p.unix_time.is_none()).count(), 421);
    // Line 75 of the file: 'Can the knob be oriented with "off* at 9 o\'clock rather than 12 o\'clock position?'
    let p = &pairs[74];
    assert_eq!(p.asin, "B00009V3UA");
    assert_eq!(p.question, "Can the knob be oriented with \"off* at 9 o'clock rather than 12 o'clock position?");
    assert_eq!((p.answer_type, p.unix_time), (Some(amazon_qa::AnswerType::Unknown), Some(1_413_961_200)));
    assert!(p.answer.starts_with("i couldn't use these knobs"));
}

#[test]
fn amazon_google_entity_matching() {
    let Some(dir) = data("amazon_google") else { return };
    let ag = amazon_google::AmazonGoogle::read(&dir).unwrap();
    assert_eq!((ag.table_a.len(), ag.table_b.len()), (1_363, 3_226));
    assert_eq!((ag.train.len(), ag.valid.len(), ag.test.len()), (6_874, 2_293, 2_293));
    assert_eq!(ag.all_pairs().count(), 11_460);
    assert_eq!(ag.all_pairs().filter(|p| p.is_match).count(), 1_167);
    assert_eq!(ag.table_a[0].title, "clickart 950000 premier image pack ( dvd-rom )");
    assert_eq!((ag.table_a[0].manufacturer.as_deref(), ag.table_a[0].price), (Some("broderbund"), None));
    assert_eq!((ag.table_b[0].title.as_str(), ag.table_b[0].price), ("learning quickbooks 2007", Some(38.99)));
    assert_eq!(ag.train[0], amazon_google::LabelledPair { ltable_id: 571, rtable_id: 946, is_match: false });
}

#[test]
fn mudoco_dialogues() {
    let Some(dir) = data("mudoco/raw_json") else { return };
    let domains = mudoco::read_dir(&dir).unwrap();
    let names: Vec<&str> = domains.iter().map(|d| d.domain.as_str()).collect();
    assert_eq!(names, ["music", "news", "reminders", "weather"]);
    let dialogs: Vec<usize> = domains.iter().map(|d| d.dialogs.len()).collect();
    assert_eq!(dialogs, [983, 174, 654, 124]);
    let turns: usize = domains.iter().flat_map(|d| d.dialogs.values()).map(|d| d.turns.len()).sum();
    assert_eq!(turns, 5_585 + 874 + 3_468 + 603);
    let weather = &domains[3].dialogs["024dcc2e-59bf-a2c9-a60e-99a4cf53091f"];
    assert_eq!(weather.split, mudoco::Split::Train);
    let t = &weather.turns[0];
    assert_eq!(t.utterance, "What are some forecasts for Northern California ?");
    let loc = &t.named_entities["location"][0];
    assert_eq!((loc.text.as_str(), loc.span), ("Northern California", mudoco::Span { start: 28, end: 47 }));
    assert_eq!(weather.turns[2].number, 4); // turn 3 is missing in the file
    assert_eq!(weather.turns[2].links[0][0].text, "tomorrow");
}

#[test]
fn steam_llara_split() {
    let Some(dir) = data("steam") else { return };
    let names = steam::read_id2name(&dir.join("id2name.txt")).unwrap();
    assert_eq!(names.len(), 3_581);
    assert_eq!(names[&2], "Half-Life"); // CR stripped
    assert_eq!(names[&354], "Depths of Fear :: Knossos"); // "::" inside a name
    let test = steam::read_rows(&dir.join("Test_data.jsonl")).unwrap();
    let val = steam::read_rows(&dir.join("Val_data.jsonl")).unwrap();
    let train = steam::read_rows(&dir.join("train_data_sample1000.jsonl")).unwrap();
    assert_eq!((test.len(), val.len(), train.len()), (1_194, 1_194, 1_000));
    // Sum of `len_seq` is 10,036, less the one empty history LLaRA writes with `len_seq` 1.
    assert_eq!(test.iter().map(|r| r.seq.len()).sum::<usize>(), 10_035);
    assert_eq!(test[914].seq, [] as [u32; 0]);
    assert_eq!(test[914].next, 1315);
    // Val line 1: [2565, 52, 169, 3451, 316, 3328, 2520, 163, 174, 3581], len_seq 9, next 66.
    assert_eq!(val[0], steam::SteamRow { seq: vec![2565, 52, 169, 3451, 316, 3328, 2520, 163, 174], next: 66 });
    assert!(test.iter().chain(&val).chain(&train).all(|r| names.contains_key(&r.next)));
}

#[test]
fn goodbooks_books() {
    let Some(path) = data("goodbooks/books.csv") else { return };
    let books = goodbooks::read_books(&path).unwrap();
    assert_eq!(books.len(), 10_000);
    let b = &books[1];
    assert_eq!(b.title, "Harry Potter and the Sorcerer's Stone (Harry Potter, #1)");
    assert_eq!(b.authors, ["J.K. Rowling", "Mary GrandPré"]);
    assert_eq!((b.book_id, b.goodreads_book_id, b.original_publication_year), (2, 3, Some(1997)));
    assert_eq!(books.iter().filter(|b| b.original_publication_year.is_none()).count(), 21);
    assert!(books.iter().any(|b| b.original_publication_year == Some(-720))); // BC years are negative
}

#[test]
fn lastfm_hetrec_with_latin1_and_unknown_artists() {
    let Some(dir) = data("lastfm/hetrec2011-lastfm-2k") else { return };
    // Raw rows first: the README's counts include the rows naming unknown artists.
    let raw = lastfm::read_tag_assignments(&dir.join("user_taggedartists.dat")).unwrap();
    assert_eq!(raw.len(), 186_479);
    assert_eq!(raw[0], lastfm::TagAssignment { user_id: 2, artist_id: 52, tag_id: 13, day: 1, month: 4, year: 2009 });
    let events = lastfm::first_tags(&raw);
    assert_eq!(events.len(), 71_064);
    assert_eq!(events.iter().map(|e| e.artist_id).collect::<HashSet<_>>().len(), 12_523);

    let fm = lastfm::LastFm::read(&dir).unwrap();
    assert_eq!((fm.artists.len(), fm.tags.len(), fm.play_counts.len()), (17_632, 11_946, 92_834));
    assert_eq!(fm.play_counts.iter().map(|p| p.user_id).collect::<HashSet<_>>().len(), 1_892);
    assert_eq!((fm.skipped_tag_assignments, fm.skipped_play_counts), (1_538, 0));
    assert_eq!(fm.tag_assignments.len(), 186_479 - 1_538);
    assert_eq!(lastfm::first_tags(&fm.tag_assignments).len(), 70_297);
    let metallica = fm.artists.iter().find(|a| a.id == 707).unwrap();
    assert_eq!((metallica.name.as_str(), metallica.url.as_str()), ("Metallica", "http://www.last.fm/music/Metallica"));
    // tags.dat is Latin-1: byte 0xE1 is "á".
    assert_eq!(fm.tags.iter().find(|t| t.id == 2863).unwrap().value, "tropicália");
}

#[test]
fn export_domains_from_real_sources() {
    let Some(root) = data("") else { return };
    let tmp = tempfile::tempdir().unwrap();
    for source in DomainSource::ALL {
        assert_eq!(DomainSource::from_name(source.name()), Some(source));
        if !source.dir(&root).exists() {
            eprintln!("SKIP: {} is absent", source.name());
            continue;
        }
        let (folder, report) = export::export_source(source, &root).unwrap();
        let out = tmp.path().join(source.name());
        folder.write(&out).unwrap();
        let (back, read_report) = DomainFolder::read(&out, UnknownItems::Reject).unwrap();
        assert_eq!(back, folder, "{}", source.name());
        assert_eq!(read_report, Default::default());
        let (items, users, events) = (
            folder.items.len(),
            folder.sequences.len(),
            folder.sequences.iter().map(|s| s.item_ids.len()).sum::<usize>(),
        );
        match source {
            DomainSource::MovieLens => {
                assert_eq!((items, users, events), (9_742, 610, 100_836));
                // User 1's first ratings: 804 and 1210 at 964980499 (tie -> by id), then 2018.
                assert_eq!(folder.sequences[0].user_id, "1");
                assert_eq!(folder.sequences[0].item_ids[..3], ["804", "1210", "2018"]);
            }
            DomainSource::AmazonScientific => assert_eq!((items, users, events), (4_344, 8_317, 58_492)),
            DomainSource::AmazonOffice => {
                // 1,795 valid + 2,024 test users, 588 in both; 4,866 rows per file.
                assert_eq!((items, users, events), (3_459, 3_231, 22_447));
                let a1460 = folder.sequences.iter().find(|s| s.user_id == "A1460").unwrap();
                // Valid rows: [1373, 75, .., 1727] -> 2647, then 2648, 1928; test row: -> 686.
                assert_eq!(a1460.item_ids[..2], ["1373", "75"]);
                assert_eq!(a1460.item_ids[10..], ["2647", "2648", "1928", "686"]);
            }
            DomainSource::Steam => assert_eq!((items, users), (3_581, 2 * 1_194)),
            DomainSource::LastFm => {
                assert_eq!((items, users, events), (17_632, 1_891, 70_297));
                assert_eq!(folder.sequences[0].item_ids[..2], ["52", "63"]); // user 2, both 2009-04-01
            }
        }
        assert_eq!(report.untitled_items + report.unknown_item_refs, 0, "{}", source.name());
    }
}

fn seq(user: &str, ids: &[&str]) -> DomainSequence {
    DomainSequence { user_id: user.into(), item_ids: ids.iter().map(|s| s.to_string()).collect() }
}

#[test]
fn domain_folder_round_trip_and_candidates() {
    let items: Vec<DomainItem> = (0..30).map(|i| DomainItem::new(i.to_string(), format!("item {i}"))).collect();
    let (mut folder, report) = DomainFolder::assemble(
        [items, vec![DomainItem::new("x", "  ")]].concat(),
        vec![seq("u1", &["1", "2", "3"]), seq("u2", &["x"]), seq("u3", &["4", "x", "5"])],
    );
    // "x" has no title: dropped, its two references removed, u2 left empty and dropped.
    assert_eq!((report.untitled_items, report.unknown_item_refs, report.empty_sequences), (1, 2, 1));
    assert_eq!(folder.sequences, [seq("u1", &["1", "2", "3"]), seq("u3", &["4", "5"])]);

    folder.candidates = folder.make_candidates(5, 7);
    assert_eq!(folder.candidates, folder.make_candidates(5, 7), "seeded");
    let c = &folder.candidates[0];
    assert_eq!((c.history.as_slice(), c.candidates.len()), (&["1".to_string(), "2".to_string()][..], 6));
    let positive = c.labels.iter().position(|&l| l == 1).unwrap();
    assert_eq!(c.candidates[positive], "3");
    assert!(c.candidates.iter().enumerate().all(|(i, id)| i == positive || !["1", "2", "3"].contains(&id.as_str())));

    let dir = tempfile::tempdir().unwrap();
    folder.write(dir.path()).unwrap();
    let items_text = std::fs::read_to_string(dir.path().join("items.jsonl")).unwrap();
    assert_eq!(items_text.lines().next().unwrap(), r#"{"item_id":"0","title":"item 0"}"#);
    let seq_text = std::fs::read_to_string(dir.path().join("sequences.jsonl")).unwrap();
    assert_eq!(
        seq_text,
        "{\"user_id\":\"u1\",\"item_ids\":[\"1\",\"2\",\"3\"]}\n{\"user_id\":\"u3\",\"item_ids\":[\"4\",\"5\"]}\n"
    );
    let (back, _) = DomainFolder::read(dir.path(), UnknownItems::Reject).unwrap();
    assert_eq!(back, folder);
    // make-candidates on an existing folder: only candidates.jsonl is rewritten.
    let (mut existing, _) = DomainFolder::read(dir.path(), UnknownItems::Reject).unwrap();
    existing.candidates = existing.make_candidates(3, 1);
    existing.write_candidates(dir.path()).unwrap();
    let (back, _) = DomainFolder::read(dir.path(), UnknownItems::Reject).unwrap();
    assert_eq!((back.candidates[0].candidates.len(), back.sequences), (4, folder.sequences.clone()));
    // No temp files left behind.
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

#[test]
fn domain_folder_bad_input_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("items.jsonl", "{\"item_id\":\"a\",\"title\":\"A\"}\n\n{\"item_id\":\"b\",\"title\":\"B\"}\n");
    write(
        "sequences.jsonl",
        "{\"user_id\":\"u\",\"item_ids\":[\"a\"]}\n{\"user_id\":\"v\",\"item_ids\":[\"b\",\"zz\"]}\n",
    );
    let err = DomainFolder::read(dir.path(), UnknownItems::Reject).unwrap_err();
    assert!(matches!(&err, DataError::UnknownItem { line: 2, item_id, .. } if item_id == "zz"), "{err}");
    assert!(err.to_string().ends_with("sequences.jsonl:2: item `zz` has no item text"), "{err}");
    // The documented alternative: skip and count.
    let (folder, report) = DomainFolder::read(dir.path(), UnknownItems::Skip).unwrap();
    assert_eq!((folder.sequences[1].item_ids.len(), report.unknown_item_refs), (1, 1));

    write("items.jsonl", "{\"item_id\":\"a\",\"title\":\"A\"}\n\n{\"item_id\":\"b\",\"title\":\"B\"\n");
    let err = DomainFolder::read(dir.path(), UnknownItems::Reject).unwrap_err().to_string();
    assert!(err.contains("items.jsonl:3: malformed JSON"), "{err}"); // the blank line still counts
    write("items.jsonl", "{\"item_id\":\"a\",\"title\":\"A\",\"rating\":5}\n");
    let err = DomainFolder::read(dir.path(), UnknownItems::Reject).unwrap_err().to_string();
    assert!(err.contains("items.jsonl:1:") && err.contains("rating"), "{err}");
    write("items.jsonl", "{\"item_id\":\"a\",\"title\":\"A\"}\n{\"item_id\":\"a\",\"title\":\"B\"}\n");
    let err = DomainFolder::read(dir.path(), UnknownItems::Reject).unwrap_err().to_string();
    assert!(err.contains("items.jsonl:2: duplicate item id `a`"), "{err}");

    write("items.jsonl", "{\"item_id\":\"a\",\"title\":\"A\"}\n{\"item_id\":\"b\",\"title\":\"B\"}\n");
    write("sequences.jsonl", "{\"user_id\":\"u\",\"item_ids\":[\"a\"]}\n");
    write("candidates.jsonl", "{\"user_id\":\"u\",\"history\":[\"a\"],\"candidates\":[\"a\",\"b\"],\"labels\":[0]}\n");
    let err = DomainFolder::read(dir.path(), UnknownItems::Reject).unwrap_err().to_string();
    assert!(err.contains("candidates.jsonl:1: 2 candidates but 1 labels"), "{err}");

    // Writing an inconsistent folder fails before touching the disk.
    let out = dir.path().join("out");
    let bad = DomainFolder {
        items: vec![DomainItem::new("a", "A")],
        sequences: vec![seq("u", &["a", "b"])],
        candidates: vec![Candidate {
            user_id: "u".into(),
            history: vec![],
            candidates: vec!["a".into()],
            labels: vec![1],
        }],
    };
    assert!(matches!(bad.write(&out).unwrap_err(), DataError::UnknownItem { line: 1, .. }));
    assert!(!out.exists());
}

#[test]
fn malformed_source_lines_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ratings.csv");
    std::fs::write(&path, "userId,movieId,rating,timestamp\r\n1,1,4.0,964982703\r\n1,2,four,964982703\r\n").unwrap();
    let err = movielens::read_ratings(&path).unwrap_err().to_string();
    assert!(err.ends_with("ratings.csv:3: field `rating` = \"four\": invalid float literal"), "{err}");
    // Same with LF, and with a quoted field spanning two lines before the bad one.
    std::fs::write(&path, "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,four,964982703\n").unwrap();
    assert!(movielens::read_ratings(&path).unwrap_err().to_string().contains("ratings.csv:3:"));
    let movies = dir.path().join("movies.csv");
    std::fs::write(&movies, "movieId,title,genres\r\n1,\"Two\r\nlines\",Drama\r\nx,Bad,Drama\r\n").unwrap();
    let err = movielens::read_movies(&movies).unwrap_err().to_string();
    assert!(err.contains("movies.csv:4: field `movieId` = \"x\""), "{err}");

    std::fs::write(&path, "userId,movieId,timestamp\n1,1,964982703\n").unwrap();
    let err = movielens::read_ratings(&path).unwrap_err();
    assert!(matches!(&err, DataError::MissingColumn { column, .. } if column == "rating"), "{err}");

    std::fs::write(&path, "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2\n").unwrap();
    let err = movielens::read_ratings(&path).unwrap_err().to_string();
    assert!(err.contains("ratings.csv:3: malformed CSV"), "{err}");

    let csv = dir.path().join("Office_Products_test.csv");
    std::fs::write(&csv, "user_id,history_item_title,item_title,history_item_id,item_id\nA1,\"['a', 'b']\",c,\"[1, 2]\",3\nA2,\"['a', 'b\",c,\"[1, 2]\",3\n").unwrap();
    let err = amazon_minionerec::read_rows(&csv).unwrap_err().to_string();
    assert!(err.contains("Office_Products_test.csv:3: field `history_item_title`: Python literal"), "{err}");

    // A later row whose history does not continue the user's sequence.
    std::fs::write(
        &csv,
        "user_id,history_item_title,item_title,history_item_id,item_id\nA1,\"['a']\",b,[1],2\nA1,\"['a']\",c,[9],3\n",
    )
    .unwrap();
    let err = amazon_minionerec::read_user_sequences(&[&csv]).unwrap_err().to_string();
    assert!(err.contains("Office_Products_test.csv:3: user `A1`"), "{err}");

    // Amazon-Google: a pair naming a product absent from tableB.
    let ag = dir.path().join("ag");
    std::fs::create_dir(&ag).unwrap();
    for table in ["tableA.csv", "tableB.csv"] {
        std::fs::write(ag.join(table), "id,title,manufacturer,price\n0,\"x, y\",,\n1,z,m,2.5\n").unwrap();
    }
    std::fs::write(ag.join("train.csv"), "ltable_id,rtable_id,label\n0,1,1\n1,7,0\n").unwrap();
    std::fs::write(ag.join("valid.csv"), "ltable_id,rtable_id,label\n").unwrap();
    std::fs::write(ag.join("test.csv"), "ltable_id,rtable_id,label\n").unwrap();
    let err = amazon_google::AmazonGoogle::read(&ag).unwrap_err().to_string();
    assert!(err.contains("train.csv:3: pair (1, 7) names a missing product"), "{err}");

    let gz = dir.path().join("qa.json.gz");
    let good = "{'questionType': 'open-ended', 'asin': 'B1', 'question': 'q', 'answer': 'a'}";
    write_gz(&gz, &format!("{good}\n{good}\n{{'questionType': 'open-ended', 'asin': 'B1',\n"));
    let err = amazon_qa::read_pairs(&gz).unwrap_err().to_string();
    assert!(err.contains("qa.json.gz:3: Python literal"), "{err}");

    let gz = dir.path().join("reviews.json.gz");
    write_gz(
        &gz,
        "{\"reviewerID\": \"A\", \"asin\": \"B\", \"overall\": 5.0, \"unixReviewTime\": 1}\n{\"reviewerID\": \"A\"\n",
    );
    let err = amazon_reviews::read_reviews(&gz).unwrap_err().to_string();
    assert!(err.contains("reviews.json.gz:2: malformed JSON"), "{err}");

    let jsonl = dir.path().join("Test_data.jsonl");
    std::fs::write(&jsonl, "{\"seq\": [1, 3581], \"len_seq\": 2, \"next\": 5}\n").unwrap();
    let err = steam::read_rows(&jsonl).unwrap_err().to_string();
    assert!(err.contains("Test_data.jsonl:1: `len_seq` = 2"), "{err}");

    let dat = dir.path().join("user_taggedartists.dat");
    std::fs::write(&dat, "userID\tartistID\ttagID\tday\tmonth\tyear\n2\t52\t13\t1\t4\n").unwrap();
    let err = lastfm::read_tag_assignments(&dat).unwrap_err().to_string();
    assert!(err.contains("user_taggedartists.dat:2: expected 6 tab-separated fields, found 5"), "{err}");

    let err = movielens::read_ratings(&dir.path().join("absent.csv")).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }) && err.to_string().contains("absent.csv"));
}

fn write_gz(path: &Path, text: &str) {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::fast());
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap();
}
