//! The RecFound task builders on the real files under `../shared/data` (each test skips with a
//! message when its files are absent): one built example per task against a hand-written text
//! (read off the source record), counts per split, group-disjoint splits, determinism under a
//! seed, and a `write_splits` / `read_rows` round trip.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use recfound::data::DataError;
use recfound::recfound::{
    BuildConfig, BuiltRow, PromptRow, PromptSplits, RecFoundRow, Sources, Split, SplitSizes, TaskId, TaskSplits,
    build_all, build_item_to_item, build_prompt_tasks, build_sentiment_analysis, build_sequential_recommendation,
    build_user_profile_prompts, read_rows,
};

const SYSTEM: &str = "Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.";
/// The short system prompt of the instruction-only B.3 examples (User Profile, Item Profile).
const SYSTEM_SHORT: &str = "Below is an instruction that describes a task. Write a response that appropriately completes the request.";

fn data_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

fn config(seed: u64) -> BuildConfig {
    BuildConfig { seed, sizes: SplitSizes { train: 300, validation: 50, test: 50 }, ..BuildConfig::default() }
}

/// The files one task reads, or `None` (with a SKIP line) when any is absent.
fn source(task: &str, files: &[&str]) -> Option<Vec<PathBuf>> {
    let paths: Vec<PathBuf> = files.iter().map(|f| data_root().join(f)).collect();
    match paths.iter().find(|p| !p.exists()) {
        Some(missing) => {
            eprintln!("SKIP {task}: {} is absent", missing.display());
            None
        }
        None => Some(paths),
    }
}

fn build_sa(seed: u64) -> Option<TaskSplits> {
    let p = source("SA", &["amazon/musical_instruments/reviews_Musical_Instruments_5.json.gz"])?;
    Some(build_sentiment_analysis(&p[0], &config(seed)).expect("SA builds"))
}

fn build_sr(seed: u64) -> Option<TaskSplits> {
    let p = source("SR", &["amazon/scientific/Scientific.item.json", "amazon/scientific/Scientific.inter.json"])?;
    Some(build_sequential_recommendation(&p[0], &p[1], &config(seed)).expect("SR builds"))
}

/// Every task built once with seed 42 through `build_all`, shared by the tests (absent sources
/// are left out).
fn built() -> &'static Vec<TaskSplits> {
    static BUILT: OnceLock<Vec<TaskSplits>> = OnceLock::new();
    BUILT.get_or_init(|| build_all(&Sources::under(&data_root()), &config(42)).expect("build_all"))
}

/// The prompt-only tasks (UP, IP) built once with seed 42.
fn prompts() -> &'static Vec<PromptSplits> {
    static BUILT: OnceLock<Vec<PromptSplits>> = OnceLock::new();
    BUILT.get_or_init(|| build_prompt_tasks(&Sources::under(&data_root()), &config(42)).expect("build_prompt_tasks"))
}

fn prompt_task(id: TaskId) -> Option<&'static PromptSplits> {
    let found = prompts().iter().find(|t| t.task == id);
    if found.is_none() {
        eprintln!("SKIP {id}: not built (source absent)");
    }
    found
}

fn task(id: TaskId) -> Option<&'static TaskSplits> {
    let found = built().iter().find(|t| t.task == id);
    if found.is_none() {
        eprintln!("SKIP {id}: not built (source absent)");
    }
    found
}

fn prompt_answer(row: &BuiltRow) -> (&str, &str) {
    match &row.row {
        RecFoundRow::Generative(g) => {
            assert_eq!(g.text.len(), 2, "one prompt, one answer");
            (&g.text[0], &g.text[1])
        }
        RecFoundRow::Embedding(_) => panic!("expected a generative row"),
    }
}

#[test]
fn sentiment_analysis_example() {
    let Some(sa) = task(TaskId::SentimentAnalysis) else { return };
    let row = &sa.test[0];
    // reviews_Musical_Instruments_5: reviewer A2KKZHISX9YKMI, asin B000XPO0IU, overall 3.0 -> C.
    assert_eq!(row.group, "A2KKZHISX9YKMI");
    let expected = format!(
        "{SYSTEM}\n\n### Instruction:\nAssess the user's sentiment in the provided review and select the appropriate sentiment option from the list as the answer.\n\n### Input:\nI like to walk around while I play. It's a hangup of mine. This strap works fine for that. The only thing I've noticed that can be annoying is that strap moves easily across my back so it is very easy to get the guitar out of position (the neck too high or too low). Other than that, it's a good deal for the price. Maybe I just need a shirt with more cling.\n\n### Options:\nA: very positive\nB: positive\nC: neutral\nD: negative\nE: very negative\n\n### Response:\n"
    );
    assert_eq!(prompt_answer(row), (expected.as_str(), "C: neutral"));
}

#[test]
fn product_matching_example() {
    let Some(pm) = task(TaskId::ProductMatching) else { return };
    let row = &pm.test[0];
    // test.csv: 705,1083,0; tableA 705 and tableB 1083.
    assert_eq!(row.group, "705-1083");
    let expected = format!(
        "{SYSTEM}\n\n### Instruction:\nCompare the details of two given products to determine if they are identical. Output yes if they are identical or no otherwise.\n\n### Input:\n\"product 1\": {{\"title\": \"professional home design suite platinum\", \"manufacturer\": \"punch ! software\", \"price\": \"99.95\"}},\n\"product 2\": {{\"title\": \"punch software 14100 punch ! professional home design suite for windows\", \"manufacturer\": \"punch software\", \"price\": \"62.99\"}}\n\n### Response:\n"
    );
    assert_eq!(prompt_answer(row), (expected.as_str(), "no"));
}

#[test]
fn answerability_prediction_example() {
    let Some(ap) = task(TaskId::AnswerabilityPrediction) else { return };
    let row = &ap.test[0];
    // qa_Appliances: asin B0046C04XQ, yes/no question with answerType '?' -> "No".
    assert_eq!(row.group, "B0046C04XQ");
    let expected = format!(
        "{SYSTEM}\n\n### Instruction:\nEvaluate the answerability of a question by analyzing the related document, outputting yes if the document contains information addressing the question, and no otherwise.\n\n### Input:\nquestion: Is this a genuine GE manufactured part?,\ndocument: I don't believe this is a GE manufactured part, but I installed this part nearly 6 months ago and I have not had any problems. Definitely follow Youtube when you install it. Do not let the wires fall down the back of the oven or you will have serious work cut out for you. As long as you hold the wires or have something hold them, it will take 5 minutes to install.\n\n### Response:\n"
    );
    assert_eq!(prompt_answer(row), (expected.as_str(), "No"));
}

#[test]
fn answer_generation_example() {
    let Some(ag) = task(TaskId::AnswerGeneration) else { return };
    let row = &ag.test[0];
    // qa_Appliances: asin B000BQWUJC, an open-ended question; the document is the product's
    // first five other Q&A pairs.
    assert_eq!(row.group, "B000BQWUJC");
    let (prompt, answer) = prompt_answer(row);
    let expected_head = format!(
        "{SYSTEM}\n\n### Instruction:\nAnswer the given question by extracting information from the supporting document.\n\n### Input:\ndo you have to have a transition pipe between the flexible pipe and standard 5 in pipe? Does it fit up?\nDocument:\nQ: Is this really 5 inch diameter? Do you ship ONLY the 5 inch when ordered? Some company's send the 4 inch. A: I needed just what they advertised for my JennAire exhaust and this was perfect."
    );
    assert!(prompt.starts_with(&expected_head), "{prompt}");
    assert!(prompt.ends_with("It is kinda thin and doesn't seem durable enough for a furnace vent\n\n### Response:\n"), "{prompt}");
    assert_eq!(prompt.matches("\nQ: ").count(), 5);
    assert!(answer.starts_with("I attached one end of the Lambro flexible aluminum duct"), "{answer}");
    assert!(answer.ends_with("If you overstretch it, it damages irreversibly"), "{answer}");
}

#[test]
fn sequential_recommendation_example() {
    let Some(sr) = task(TaskId::SequentialRecommendation) else { return };
    let row = &sr.test[0];
    // Scientific.inter.json: user 4494 bought [1226, 3197, 2117, 3457, 4225]; 4225 is the answer.
    assert_eq!(row.group, "4494");
    let (prompt, answer) = prompt_answer(row);
    let expected_head = format!(
        "{SYSTEM}\n\n### Instruction:\nRank the items in options and predict the user's next purchase from the listed options by analyzing her historical purchases.\n\n### Input:\n1st: SE DT220R 180 Grit Diamond Burr Set with 1/8 Shank, 20-Piece. Industrial & Scientific. Cutting Tools. Cutting Burs. SE.\n2nd: 3D Solutech Real White 3D Printer PLA Filament 1.75MM Filament, Dimensional Accuracy +/- 0.03 mm, 2.2 LBS (1.0KG). Industrial & Scientific. Additive M...\n3rd: HATCHBOX PLA 3D Printer Filament, Dimensional Accuracy +/- 0.03 mm, 1 kg Spool, 1.75 mm, Red. Industrial & Scientific. Additive Manufacturing Products...\n4th: 3D Solutech Silver Metal 3D Printer PLA Filament 1.75MM Filament, Dimensional Accuracy +/- 0.03 mm, 2.2 LBS (1.0KG) - PLA175TCMS. Industrial & Scienti...\n\n### Options:\nA: "
    );
    assert!(prompt.starts_with(&expected_head), "{prompt}");
    assert!(prompt.contains("\nM: 3D Solutech Printer Filament, Real Black PLA, 1.75MM Filament, Dimensional Accuracy +/- 0.03 mm, 1.1 LBS (0.5KG). Industrial & Scientific. Additive Ma...\n"));
    assert_eq!(answer, "M");
    let options = prompt.split("### Options:\n").nth(1).expect("options section");
    let labels: Vec<&str> = options.lines().filter_map(|l| l.split_once(": ").map(|(k, _)| k)).collect();
    let a_to_t: Vec<String> = (b'A'..=b'T').map(|c| (c as char).to_string()).collect();
    assert_eq!(labels, a_to_t);
}

#[test]
fn sequential_recommendation_negatives_are_untouched() {
    let Some(p) = source("SR", &["amazon/scientific/Scientific.item.json", "amazon/scientific/Scientific.inter.json"]) else { return };
    let Some(sr) = task(TaskId::SequentialRecommendation) else { return };
    let items = recfound::data::amazon_lcrec::read_items(&p[0]).expect("items");
    let seqs = recfound::data::amazon_lcrec::read_sequences(&p[1]).expect("sequences");
    let cfg = config(42);
    for row in sr.test.iter().chain(&sr.validation).take(20) {
        let seq = seqs.iter().find(|s| s.user_id == row.group).expect("the row's user");
        let touched: HashSet<String> = seq
            .item_ids
            .iter()
            .map(|id| {
                let item = items.iter().find(|i| &i.item_id == id).expect("item");
                recfound::recfound::build_sr::item_text(item, cfg.item_text_max_chars)
            })
            .collect();
        let (prompt, answer) = prompt_answer(row);
        let options = prompt.split("### Options:\n").nth(1).expect("options");
        for line in options.lines().filter(|l| l.contains(": ")) {
            let (label, text) = line.split_once(": ").expect("a lettered option");
            assert_eq!(label == answer, touched.contains(text), "user {}: option {line}", row.group);
        }
    }
}

#[test]
fn counts_per_split() {
    // Every source here has more rows than the sizes (I2I: 4,000+ items with a neighbour; UP:
    // 610 MovieLens users; IP: 9,742 movies + 10,000 books), so every split is full.
    for t in built() {
        assert_eq!(t.counts(), [300, 50, 50], "{}", t.task);
        for split in Split::ALL {
            assert!(t.split(split).iter().all(|r| r.row.task() == t.task), "{} {}", t.task, split.name());
        }
    }
    for t in prompts() {
        assert_eq!(t.counts(), [300, 50, 50], "{}", t.task);
        for split in Split::ALL {
            assert!(t.split(split).iter().all(|r| r.task == t.task), "{} {}", t.task, split.name());
        }
    }
    let names = |ids: Vec<TaskId>| ids.into_iter().map(|t| t.abbreviation()).collect::<Vec<_>>().join(" ");
    if Sources::under(&data_root()) == full_sources() {
        assert_eq!(names(built().iter().map(|t| t.task).collect()), "U2I I2I SR SA PM AP AG");
        assert_eq!(names(prompts().iter().map(|t| t.task).collect()), "UP IP");
    }
}

/// The sources of a complete `../shared/data` (the counts test checks the task list only then).
fn full_sources() -> Sources {
    let root = data_root();
    Sources {
        reviews: Some(root.join("amazon/musical_instruments/reviews_Musical_Instruments_5.json.gz")),
        amazon_google: Some(root.join("amazon_google")),
        qa: Some(root.join("amazon/qa/qa_Appliances.json.gz")),
        lcrec: Some((root.join("amazon/scientific/Scientific.item.json"), root.join("amazon/scientific/Scientific.inter.json"))),
        movielens: Some(root.join("movielens/ml-latest-small")),
        goodbooks: Some(root.join("goodbooks/books.csv")),
    }
}

#[test]
fn splits_are_group_disjoint() {
    for t in built() {
        let groups = |s: Split| t.split(s).iter().map(|r| r.group.as_str()).collect::<HashSet<_>>();
        let (tr, va, te) = (groups(Split::Train), groups(Split::Validation), groups(Split::Test));
        assert!(tr.is_disjoint(&va) && tr.is_disjoint(&te) && va.is_disjoint(&te), "{}", t.task);
    }
    for t in prompts() {
        let ids = |s: Split| t.split(s).iter().map(|r| r.id.as_str()).collect::<HashSet<_>>();
        let (tr, va, te) = (ids(Split::Train), ids(Split::Validation), ids(Split::Test));
        assert!(tr.is_disjoint(&va) && tr.is_disjoint(&te) && va.is_disjoint(&te), "{}", t.task);
    }
}

#[test]
fn a_seed_fixes_the_build() {
    let (Some(a), Some(b), Some(c)) = (build_sa(7), build_sa(7), build_sa(8)) else { return };
    assert_eq!(a, b);
    assert_ne!(a.test, c.test);
    let (Some(a), Some(b)) = (build_sr(7), build_sr(7)) else { return };
    assert_eq!(a, b);
    let i2i = |seed| {
        let p = source("I2I", &["amazon/scientific/Scientific.item.json", "amazon/scientific/Scientific.inter.json"])?;
        Some(build_item_to_item(&p[0], &p[1], &config(seed)).expect("I2I builds"))
    };
    let (Some(a), Some(b)) = (i2i(7), i2i(7)) else { return };
    assert_eq!(a, b);
    // `build_all` makes what the single builder makes.
    let (Some(single), Some(all)) = (build_sa(42), task(TaskId::SentimentAnalysis)) else { return };
    assert_eq!(&single, all);
}

#[test]
fn rows_round_trip_through_task_folders() {
    let tasks = built();
    if tasks.is_empty() {
        eprintln!("SKIP write_splits: no source under {}", data_root().display());
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    recfound::recfound::write_splits(dir.path(), tasks).expect("write");
    for t in tasks {
        for split in Split::ALL {
            let path = dir.path().join(t.task.name()).join(format!("{}.jsonl", split.name()));
            assert_eq!(read_rows(&path).expect("read"), t.rows(split), "{} {}", t.task, split.name());
        }
    }
    // Prompt-only tasks: `{split}.prompts.jsonl` beside the task's (absent) training files.
    recfound::recfound::write_prompt_splits(dir.path(), prompts()).expect("write prompts");
    for t in prompts() {
        assert!(!dir.path().join(t.task.name()).join("train.jsonl").exists(), "{}", t.task);
        for split in Split::ALL {
            let path = dir.path().join(t.task.name()).join(format!("{}.prompts.jsonl", split.name()));
            let text = std::fs::read_to_string(&path).expect("prompts file");
            let back: Vec<PromptRow> = text.lines().map(|l| serde_json::from_str(l).expect("a prompt row")).collect();
            assert_eq!(back, t.split(split), "{} {}", t.task, split.name());
        }
    }
    recfound::recfound::write_card(dir.path(), tasks, prompts(), &config(42)).expect("card");
    let stats: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("stats.json")).expect("stats.json")).expect("JSON");
    for t in tasks {
        assert_eq!(stats["tasks"][t.task.name()]["test"], t.test.len(), "{}", t.task);
    }
    for t in prompts() {
        assert_eq!(stats["prompt_tasks"][t.task.name()]["test"], t.test.len(), "{}", t.task);
    }
    let md = std::fs::read_to_string(dir.path().join("DATASET.md")).expect("DATASET.md");
    assert!(md.contains("- Query_Rewriting (QR): needs human rewrites"), "{md}");
    if !prompts().is_empty() {
        assert!(md.contains("## Prompt-only (no reference answers)"), "{md}");
    }
}

#[test]
fn user_to_item_example() {
    let Some(u2i) = task(TaskId::EmbUser) else { return };
    let row = &u2i.test[0];
    // Scientific.inter.json: user 2037 bought [2156, 465, 1722, 1137, 895, 2568, 42]; the query
    // is the first six, newest first; 42 is the positive; the negative 1533 shares 42's second
    // category level ("Tapes, Adhesives & Sealants") and is not in the user's sequence.
    assert_eq!(row.group, "2037");
    let RecFoundRow::Embedding(e) = &row.row else { panic!("expected an embedding row") };
    let query = "Shark Navigator Lift-Away Professional NV356E.\nDuPont Teflon Non-Stick.\nShop-Vac Corp 3Pk Reuse Dry Filt Disc 90107-19 Wet/Dry Vac Filters & Bags.\nDixon Valve TTB75 PTFE Industrial Sealant Tape, -212 to 500 Degree F Temperature Range, 3.5mil Thick, 520 Length, 3/4 Width, White.\nGorilla Tape, Black Tough & Wide Duct Tape, 2.88 x 30 yd, Black, (Pack of 1).\nM+A Matting 221 Waterhog Fashion Diamond Polypropylene Fiber Entrance Indoor Floor Mat, SBR Rubber Backing, 8.4' Length x 3' Width, 1/4 Thick, Charcoal.";
    let instruction = "Represent this sequence of user actions to predict the next product he/she will purchase (User sequence is in reverse chronological order):";
    assert_eq!(e.query, (instruction.to_string(), query.to_string()));
    let item = "Encode this product to fit a user sequence:".to_string();
    assert_eq!(e.pos, vec![(item.clone(), "Permatex 80050 Clear RTV Silicone Adhesive Sealant, 3 oz.".to_string())]);
    assert_eq!(
        e.neg,
        vec![(item, "ProTapes Pro 950 Polyimide Film Tape, 7500V Dielectric Strength, 36 yds Length x 1/2 Width (Pack of 1).".to_string())]
    );
}

#[test]
fn item_to_item_example() {
    let Some(i2i) = task(TaskId::EmbItem) else { return };
    let row = &i2i.test[0];
    // Scientific: item 3998 (Rotometals bismuth) sits once next to each of nine items in the
    // sequences (users 2964, 5183, 5192, 5410, 8201); the seeded tie-break picks 276. The
    // negative 1338 shares 3998's second level ("Raw Materials") and none of its five buyers.
    assert_eq!(row.group, "276|3998");
    let RecFoundRow::Embedding(e) = &row.row else { panic!("expected an embedding row") };
    assert_eq!(e.task, TaskId::EmbItem);
    assert_eq!(
        e.query,
        (
            "Based on the title and categories of a product, generate an embedding to identify similar products:".to_string(),
            "title: Rotometals Kilo Bismuth Metal 99.99% Premium Grade, categories: Industrial & Scientific, Raw Materials, Metals & Alloys".to_string()
        )
    );
    assert_eq!(
        e.pos,
        vec![(
            "Based on an item's details and attributes, produce an embedding to identify similar products:".to_string(),
            "title: Karter Scientific 213A2 Borosilicate Glass Low Form Glass Beaker, 50/100/250/500/1000 mL (Pack of 5), categories: Industrial & Scientific, Lab & Scientific Products, Glassware & Labware, Beakers".to_string()
        )]
    );
    assert_eq!(
        e.neg,
        vec![(
            "Using the attributes and details of an item, create an embedding to help find similar products:".to_string(),
            "title: 304 Stainless Steel Round Rod, Unpolished (Mill) Finish, Annealed, AMS 5639/ASTM A276/AMS QQ-S 763/ASTM A276, 0.625 Diameter, 60 Length, categories: Industrial & Scientific, Raw Materials, Metals & Alloys, Stainless Steel, Stainless Steel Rods".to_string()
        )]
    );
}

#[test]
fn user_profile_prompt_example() {
    let Some(up) = prompt_task(TaskId::UserProfile) else { return };
    let row = &up.test[0];
    // ml-latest-small ratings.csv, user 378: the last 10 of 48 ratings by timestamp
    // (1445347583 Bourne Ultimatum 3.5 ... 1445347927 Memento 3.5), oldest first.
    assert_eq!(row.id, "movielens-user-378");
    let expected = format!(
        "{SYSTEM_SHORT}\n\n### Instruction:\nGiven a user, this user's movie viewing history over time is listed below. Bourne Ultimatum, The (2007), 3.5 stars; Departed, The (2006), 4.5 stars; Interstellar (2014), 4.5 stars; Lion King, The (1994), 4.5 stars; Pirates of the Caribbean: The Curse of the Black Pearl (2003), 4 stars; The Machinist (2004), 4 stars; Star Trek (2009), 4 stars; Incredibles, The (2004), 4 stars; Zombieland (2009), 2 stars; Memento (2000), 3.5 stars; Analyze user's preferences on movies (consider factors like genre, director/actors, time period/country, character, plot/theme, mood/tone, critical acclaim/award, production quality, and soundtrack). Provide clear explanations based on relevant details from the user's movie viewing history and other pertinent factors.\n\n### Response:\n"
    );
    assert_eq!(row.prompt, expected);
}

#[test]
fn item_profile_prompt_examples() {
    let Some(ip) = prompt_task(TaskId::ItemProfile) else { return };
    // movies.csv: 69495,Breakfast with Scot (2007),Drama|Romance.
    assert_eq!(ip.test[0].id, "movielens-movie-69495");
    let movie = format!(
        "{SYSTEM_SHORT}\n\n### Instruction:\nIntroduce movie Breakfast with Scot (2007) and describe its attributes (including but not limited to genre, director/cast, country, character, plot/theme, mood/tone, critical acclaim/award, production quality, and soundtrack).\n\n### Response:\n"
    );
    assert_eq!(ip.test[0].prompt, movie);
    // books.csv: book_id 7731, title "Fourth of July Creek".
    assert_eq!(ip.test[1].id, "goodbooks-book-7731");
    let book = format!(
        "{SYSTEM_SHORT}\n\n### Instruction:\nIntroduce book Fourth of July Creek, which is from Goodreads Page and describe its attributes including but not limited to genre, author, writing style, theme, setting, length and complexity, time period, literary quality, critical acclaim.\n\n### Response:\n"
    );
    assert_eq!(ip.test[1].prompt, book);
}

#[test]
fn an_empty_task_pool_names_the_task() {
    let dir = tempfile::tempdir().expect("a temp dir");
    // MovieLens with headers only: no user, so no User Profile prompt.
    std::fs::write(dir.path().join("ratings.csv"), "userId,movieId,rating,timestamp\r\n").unwrap();
    std::fs::write(dir.path().join("movies.csv"), "movieId,title,genres\r\n").unwrap();
    let err = build_user_profile_prompts(dir.path(), &config(1)).unwrap_err();
    assert!(matches!(err, DataError::EmptyTask { task: "user_profile", .. }), "{err}");
    assert!(err.to_string().starts_with("task `user_profile`: empty task pool"), "{err}");
    // Items but no sequences: no neighbours, so no Item2Item row.
    let (items, inter) = (dir.path().join("x.item.json"), dir.path().join("x.inter.json"));
    std::fs::write(&items, r#"{"0": {"title": "A", "categories": "S,C"}, "1": {"title": "B", "categories": "S,C"}}"#).unwrap();
    std::fs::write(&inter, "{}").unwrap();
    let err = build_item_to_item(&items, &inter, &config(1)).unwrap_err();
    assert!(matches!(err, DataError::EmptyTask { task: "Emb_item", .. }), "{err}");
}

#[test]
fn a_malformed_source_line_names_file_and_line() {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(dir.path().join("movies.csv"), "movieId,title,genres\r\n1,Heat (1995),Action\r\n").unwrap();
    std::fs::write(dir.path().join("ratings.csv"), "userId,movieId,rating,timestamp\r\n1,1,4.0,10\r\n1,1,four,11\r\n").unwrap();
    let err = build_user_profile_prompts(dir.path(), &config(1)).unwrap_err().to_string();
    assert!(err.contains("ratings.csv:3:"), "{err}");
}
