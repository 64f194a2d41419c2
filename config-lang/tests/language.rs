//! The Click language, statement by statement: what parses, what it flattens to, and the
//! exact message and position of every kind of error.

mod common;

use common::*;
use sluice_config::ast::{ClassRef, ElementRef, Stmt};
use sluice_config::{parse, Source};

fn e(line: usize, col: usize, msg: &str) -> (usize, usize, String) {
    (line, col, msg.to_string())
}

// ---------------------------------------------------------------- declarations and chains

#[test]
fn declaration_with_config() {
    let g = flat("src :: InfiniteSource(LIMIT 5); src -> Discard;");
    assert_eq!(
        decls(&g),
        ["src :: InfiniteSource(LIMIT 5)", "Discard@2 :: Discard"]
    );
}

#[test]
fn several_names_share_one_declaration() {
    let g = flat("a, b, c :: Counter(1); InfiniteSource -> a -> b -> c -> Discard");
    assert_eq!(
        &decls(&g)[..3],
        ["a :: Counter(1)", "b :: Counter(1)", "c :: Counter(1)"]
    );
}

#[test]
fn anonymous_elements_are_named_class_at_position() {
    let g = flat("InfiniteSource -> Counter -> c :: Counter -> Counter(2) -> Discard;");
    assert_eq!(
        decls(&g),
        [
            "InfiniteSource@1 :: InfiniteSource",
            "Counter@2 :: Counter",
            "c :: Counter",
            "Counter@4 :: Counter(2)",
            "Discard@5 :: Discard"
        ]
    );
}

#[test]
fn anonymous_names_avoid_declared_names() {
    let g = flat("Counter@1 :: Counter; InfiniteSource -> Counter@1 -> Counter -> Discard;");
    assert_eq!(decls(&g)[2], "Counter@3 :: Counter");
    let g = flat("Discard@2 :: Discard; Idle -> Discard; Idle -> Discard@2");
    assert!(
        decls(&g).contains(&"Discard@3 :: Discard".to_string()),
        "{:?}",
        decls(&g)
    );
}

#[test]
fn chains_connect_in_order() {
    let g = flat("a :: InfiniteSource; b :: Counter; c :: Discard; a -> b -> c;");
    assert_eq!(conns(&g), ["a [0] -> [0] b", "b [0] -> [0] c"]);
}

#[test]
fn ports_on_both_sides() {
    let g =
        flat("s :: InfiniteSource; t :: Tee(2); s -> t; t [1] -> [0] Discard; t [0] -> Discard;");
    assert_eq!(
        conns(&g),
        [
            "s [0] -> [0] t",
            "t [1] -> [0] Discard@3",
            "t [0] -> [0] Discard@4"
        ]
    );
}

#[test]
fn declarations_inside_connections() {
    let g = flat("InfiniteSource -> [0] q :: Queue(10) [0] -> Unqueue -> Discard;");
    assert_eq!(decls(&g)[1], "q :: Queue(10)");
    assert_eq!(conns(&g)[1], "q [0] -> [0] Unqueue@3");
}

#[test]
fn elements_are_declared_before_they_are_connected() {
    // Click reads top to bottom: `d` is not an element yet where it is connected.
    for text in [
        "InfiniteSource -> d; d :: Discard;",
        "d[0] -> Discard; InfiniteSource -> d :: Null;",
        "elementclass X { input -> y; y :: Null -> output } InfiniteSource -> X -> Discard;",
    ] {
        let (_, _, msg) = one_error(text);
        assert!(msg.starts_with("undeclared element"), "{text}: {msg}");
        assert!(msg.contains("declared further down"), "{text}: {msg}");
    }
    let g = flat("d :: Discard; InfiniteSource -> d;");
    assert_eq!(conns(&g), ["InfiniteSource@2 [0] -> [0] d"]);
}

#[test]
fn semicolons_are_optional() {
    let g = flat("a :: InfiniteSource b :: Discard\na -> b");
    assert_eq!(conns(&g), ["a [0] -> [0] b"]);
}

#[test]
fn many_to_one_and_one_to_many() {
    let g = flat("a, b :: InfiniteSource; q :: Queue; a, b -> q; q -> Unqueue -> t :: Tee(2); t[0], t[1] -> Discard");
    assert!(conns(&g).contains(&"a [0] -> [0] q".to_string()));
    assert!(conns(&g).contains(&"b [0] -> [0] q".to_string()));
    assert_eq!(
        &conns(&g)[4..],
        ["t [0] -> [0] Discard@6", "t [1] -> [0] Discard@6"]
    );
    let g = flat("s :: InfiniteSource; t :: Tee(2); s -> t -> Discard; t[1] -> Discard");
    assert_eq!(conns(&g).len(), 3);
}

#[test]
fn many_to_many_with_explicit_ports() {
    let g = flat("c :: Classifier(a, b); InfiniteSource -> c; c [0], c [1] => Paint(0), Paint(1) -> Discard;");
    let c = conns(&g);
    assert!(
        c.contains(&"c [0] -> [0] Paint@3".to_string())
            && c.contains(&"c [1] -> [0] Paint@4".to_string()),
        "{c:?}"
    );
}

#[test]
fn many_to_many_port_list_and_implicit_ports() {
    let a = flat("c :: Classifier(a, b, -); InfiniteSource -> c; c [0,1,2] => Paint(0), Paint(1), Paint(2) -> Discard;");
    let b = flat("c :: Classifier(a, b, -); InfiniteSource -> c; c => Paint(0), Paint(1), Paint(2) -> Discard;");
    assert_eq!(conns(&a), conns(&b));
    assert!(conns(&a).contains(&"c [2] -> [0] Paint@5".to_string()));
}

#[test]
fn many_to_many_onto_one_element_uses_its_inputs_in_order() {
    let g = flat("a, b :: InfiniteSource; r :: RoundRobinSched; a, b => Queue, Queue => r -> Unqueue -> Discard");
    let c = conns(&g);
    assert!(
        c.contains(&"Queue@4 [0] -> [0] r".to_string())
            && c.contains(&"Queue@5 [0] -> [1] r".to_string()),
        "{c:?}"
    );
}

// ---------------------------------------------------------------- configuration strings

#[test]
fn config_strings_are_kept_verbatim() {
    let g = flatten_only(
        "x :: A(a, (b, c), \"d)\" /* ) */, \\<0d 0a>, 'e(');\ny :: B(// comment )\n  1)",
    );
    assert_eq!(
        g.elements[0].config,
        "a, (b, c), \"d)\" /* ) */, \\<0d 0a>, 'e('"
    );
    assert_eq!(g.elements[1].config, "// comment )\n  1");
}

#[test]
fn config_span_points_at_the_text() {
    let src = "x :: Counter(abc);";
    let g = flatten_only(src);
    let s = g.elements[0].config_span;
    assert_eq!(&src[s.start as usize..s.end as usize], "abc");
    assert_eq!(
        &src[g.elements[0].span.start as usize..g.elements[0].span.end as usize],
        "x"
    );
}

#[test]
fn comments_anywhere() {
    let g = flat(
        "// line\n/* block\n */ a :: InfiniteSource; /* x */ a -> // y\n Discard;\n# 3 \"file\"\n",
    );
    assert_eq!(g.elements.len(), 2);
}

#[test]
fn identifiers_with_slashes_and_at_signs() {
    let g = flatten_only("an/identifier/with/slashes//too/many\nx@y :: C;");
    assert_eq!(g.elements[0].name, "an/identifier/with/slashes@1");
    assert_eq!(g.elements[1].name, "x@y");
}

// ---------------------------------------------------------------- parameters

#[test]
fn define_and_substitute() {
    let g = flat("define($N 5, $DEV eth0); FromDevice($DEV) -> Queue(${N}0) -> ToDevice(${DEV}x)");
    assert_eq!(
        decls(&g),
        [
            "FromDevice@1 :: FromDevice(eth0)",
            "Queue@2 :: Queue(50)",
            "ToDevice@3 :: ToDevice(eth0x)"
        ]
    );
}

#[test]
fn defines_are_simultaneous() {
    let g = flat("Idle -> Print($a) -> Discard; define($a 2)");
    assert_eq!(g.elements[1].config, "2");
}

#[test]
fn parameters_from_outside_override_defines() {
    let g = load_with(
        "define($DEV eth0); FromDevice($DEV) -> Queue -> ToDevice($OUT)",
        &[("DEV", "eth7"), ("$OUT", "eth8")],
    );
    assert_eq!(g.elements[0].config, "eth7");
    assert_eq!(g.elements[2].config, "eth8");
}

#[test]
fn default_values_and_unknown_parameters() {
    let g = flat("Idle -> Print(${X-fallback} $undefined '$quoted') -> Discard");
    assert_eq!(g.elements[1].config, "fallback $undefined '$quoted'");
}

#[test]
fn indexed_parameters_give_one_word() {
    let g = flat(
        "elementclass W { $a, $n | input -> Print(${a[0]}|${a[2]}|${a[3]}|${a[$n]}|${ a [ 1 ] }|${b[0]-none}|${a[1]-x}) -> output }\n\
         Idle -> W(\"p q\" r 's t', 1) -> Discard",
    );
    assert_eq!(g.elements[2].config, "\"p q\"|'s t'||r|r|none|r");
}

// ---------------------------------------------------------------- compound elements

#[test]
fn compound_elements_get_hierarchical_names() {
    let g = flat("elementclass Counted { input -> c :: Counter -> output }\nfw :: Counted; InfiniteSource -> fw -> Discard;");
    assert_eq!(decls(&g)[2], "fw/c :: Counter");
    assert_eq!(
        conns(&g),
        [
            "InfiniteSource@2 [0] -> [0] fw/c",
            "fw/c [0] -> [0] Discard@3"
        ]
    );
}

#[test]
fn inline_compound_with_several_ports() {
    let g = flat("compound :: { input -> X :: Counter -> output; input [1] -> Y :: Counter -> [1] output; };\n\
                  a, c :: InfiniteSource; b, d :: Discard;\n a -> compound -> b; c -> [1] compound [1] -> d;");
    assert_eq!(
        conns(&g),
        [
            "a [0] -> [0] compound/X",
            "c [0] -> [0] compound/Y",
            "compound/X [0] -> [0] b",
            "compound/Y [0] -> [0] d"
        ]
    );
}

#[test]
fn elements_are_listed_in_clicks_order() {
    // A body's own elements first, then each of its compounds' bodies in turn. The list is
    // `click -q -h list` of this configuration (Click 2.1, kohler/click 9197a59).
    let g = flatten_only(
        "elementclass In3 { input -> z :: Null -> output }\n\
         elementclass Inner2 { input -> x :: Null -> Q :: In3 -> y :: Null -> output }\n\
         elementclass In { input -> a :: Counter -> Inner2 -> b :: Counter -> output }\n\
         elementclass Two { input -> In -> m :: Null -> In -> output }\n\
         s :: InfiniteSource(LIMIT 1) -> One :: In -> c :: Counter -> t :: Two -> Idle2 :: In -> d :: Discard;\n\
         Idle -> In3 -> Discard;",
    );
    let names: Vec<&str> = g.elements.iter().map(|e| e.name.as_str()).collect();
    let click = "s c d Idle@7 Discard@9 One/a One/b One/Inner2@2/x One/Inner2@2/y \
                 One/Inner2@2/Q/z t/m t/In@1/a t/In@1/b t/In@1/Inner2@2/x t/In@1/Inner2@2/y \
                 t/In@1/Inner2@2/Q/z t/In@3/a t/In@3/b t/In@3/Inner2@2/x t/In@3/Inner2@2/y \
                 t/In@3/Inner2@2/Q/z Idle2/a Idle2/b Idle2/Inner2@2/x Idle2/Inner2@2/y \
                 Idle2/Inner2@2/Q/z In3@8/z";
    assert_eq!(names, click.split_whitespace().collect::<Vec<_>>());
}

#[test]
fn anonymous_compound_is_named_at_number() {
    let g = flat("InfiniteSource -> { input -> Counter -> output } -> Discard;");
    assert_eq!(g.elements[2].name, "@2/Counter@1");
}

#[test]
fn unconnected_compound_ports_drop_their_connections() {
    let g = flatten_only("{ input -> X :: Counter -> output; Idle -> X } -> Discard;");
    // Nothing connects to the compound's input, so `input -> X` disappears.
    assert_eq!(
        conns(&g),
        ["@1/X [0] -> [0] Discard@2", "@1/Idle@2 [0] -> [0] @1/X"]
    );
}

#[test]
fn compound_parameters_positional_keyword_and_rest() {
    let g = flat("elementclass P { $a, COUNT $count, __REST__ $rest | input -> Print($a $count [$rest]) -> output }\n\
                  InfiniteSource -> P(1, 2, COUNT 3, FOO 4) -> Discard;");
    assert_eq!(g.elements[2].config, "1 3 [2, FOO 4]");
}

#[test]
fn compound_parameters_are_substituted_from_outer_scope() {
    let g = flat("define($p 7); elementclass Q { $a | input -> Print($a $p) -> output }\nInfiniteSource -> Q($p$p) -> Discard;");
    assert_eq!(g.elements[2].config, "77 7");
}

#[test]
fn nested_compounds_and_defines_inside() {
    let g = flat("elementclass In { $x | define($y ${x}9); input -> Print($y) -> output }\n\
                  elementclass Out { input -> i :: In(4) -> output }\nInfiniteSource -> o :: Out -> Discard");
    assert_eq!(decls(&g)[2], "o/i/Print@1 :: Print(49)");
}

#[test]
fn overloading_chooses_by_ports_and_arguments() {
    let text = "elementclass MyQueue { input -> Queue -> Unqueue -> output || $cap | input -> Queue($cap) -> Unqueue -> output || input -> Counter -> output; input[1] -> Counter -> [1] output }\n\
                s :: InfiniteSource; s -> a :: MyQueue -> Discard; s -> b :: MyQueue(9) -> Discard;\n\
                s2 :: InfiniteSource -> [1] c :: MyQueue [1] -> Discard; s -> c -> Discard";
    let src = Source::new("t", text);
    let cfg = parse(&src, 0).unwrap();
    let g = sluice_config::flatten(&cfg, &[]).unwrap();
    let d = decls(&g);
    assert!(d.contains(&"a/Queue@1 :: Queue".to_string()), "{d:?}");
    assert!(d.contains(&"b/Queue@1 :: Queue(9)".to_string()), "{d:?}");
    assert!(d.contains(&"c/Counter@2 :: Counter".to_string()), "{d:?}");
}

#[test]
fn overloading_extends_a_primitive_with_ellipsis() {
    let g = flat("elementclass Queue { $cap, $rate | input -> Queue($cap) -> Print($rate) -> Unqueue -> output || ... }\n\
                  InfiniteSource -> Queue(5, 9) -> Discard; InfiniteSource -> q :: Queue(3) -> Unqueue -> Discard;");
    let d = decls(&g);
    assert!(
        d.contains(&"Queue@2/Queue@1 :: Queue(5)".to_string()),
        "{d:?}"
    );
    assert!(d.contains(&"q :: Queue(3)".to_string()), "{d:?}");
}

#[test]
fn elementclass_synonyms() {
    let g = flat("elementclass Drop Discard; elementclass Wrap { input -> Counter -> output } elementclass W2 Wrap;\nInfiniteSource -> W2 -> Drop;");
    assert_eq!(
        decls(&g),
        [
            "InfiniteSource@1 :: InfiniteSource",
            "Drop@3 :: Discard",
            "W2@2/Counter@1 :: Counter",
        ]
    );
}

#[test]
fn element_classes_are_lexically_scoped() {
    // From Click's manual: the A defined first refers to the B visible at that point.
    let g = flatten_only("elementclass A { input -> B -> output }\nelementclass B { input -> C -> output }\nx :: Idle -> A -> Discard");
    assert_eq!(g.elements[2].class, "B");
    // A class does not refer to itself.
    let g = flatten_only(
        "elementclass Queue { input -> Queue -> Shaper(1000) -> output }\nIdle -> Queue -> Discard",
    );
    assert_eq!(g.elements[2].class, "Queue");
    assert_eq!(g.elements[2].name, "Queue@2/Queue@1");
}

#[test]
fn element_groups_express_detours() {
    let g = flat("y :: Discard; x :: InfiniteSource;\nx -> c :: Classifier(00/01, -) => (\n input [0] -> output;\n input [1] -> Paint(1) -> output\n) -> y;");
    let c = conns(&g);
    assert!(
        c.contains(&"c [0] -> [0] y".to_string())
            && c.contains(&"c [1] -> [0] Paint@7".to_string())
            && c.contains(&"Paint@7 [0] -> [0] y".to_string()),
        "{c:?}"
    );
}

#[test]
fn element_group_shorthands_are_equivalent() {
    let want = vec!["x [0] -> [0] y".to_string()];
    for mid in [
        "->",
        "-> ( input -> output ) ->",
        "-> ( [0] -> [0] ) ->",
        "-> (->) ->",
    ] {
        let g = flat(&format!("x :: InfiniteSource; y :: Discard; x {mid} y;"));
        assert_eq!(conns(&g), want, "{mid}");
    }
    let g = flat("x :: Tee(2); InfiniteSource -> x; y :: RoundRobinSched(2); x => ( [0]->[0]; [1]->[1] ) => Queue, Queue => y -> Unqueue -> Discard");
    assert!(
        conns(&g).contains(&"x [1] -> [0] Queue@8".to_string()),
        "{:?}",
        conns(&g)
    );
}

#[test]
fn require_collects_requirements() {
    // A library is read in by the loader (see `library`): it is not a requirement of the graph.
    let g = flat("require(package fastclassifier, library x.click); require(y) Idle -> Discard");
    assert_eq!(g.requirements, ["package fastclassifier", "y"]);
}

#[test]
fn ast_records_structure_and_spans() {
    let src = Source::new(
        "t",
        "a :: C(1) -> [2] b;\nelementclass E { $x | input -> output }",
    );
    let cfg = parse(&src, 3).unwrap();
    let root = cfg.body(cfg.root);
    assert_eq!(root.stmts.len(), 2);
    let Stmt::Connection(c) = &root.stmts[0] else {
        panic!()
    };
    assert_eq!(c.sections.len(), 2);
    assert_eq!(c.sections[1][0].in_ports.as_ref().unwrap().ports, [2]);
    let ElementRef::Declare {
        name,
        class: ClassRef::Named(cls),
        config,
    } = &c.sections[0][0].reference
    else {
        panic!()
    };
    assert_eq!(
        (
            name.name.as_str(),
            cls.name.as_str(),
            config.as_ref().unwrap().text.as_str()
        ),
        ("a", "C", "1")
    );
    assert_eq!(name.span.file, 3);
    let Stmt::ElementClass(ec) = &root.stmts[1] else {
        panic!()
    };
    let ClassRef::Compound(id) = ec.class else {
        panic!()
    };
    let body = cfg.body(cfg.compound(id).overloads[0]);
    assert_eq!(body.formals[0].variable.name, "x");
}

// ---------------------------------------------------------------- syntax errors

#[test]
fn error_unexpected_character() {
    assert_eq!(parse_errors("a :: Counter;\n  % -> b"), [e(2, 3, "unexpected character '%': expected a statement (an element, a connection, 'elementclass', 'require' or 'define')")]);
}

#[test]
fn error_unterminated_comment() {
    assert_eq!(
        parse_errors("a :: Counter; /* no end"),
        [e(
            1,
            15,
            "unterminated comment: this '/*' has no closing '*/'"
        )]
    );
}

#[test]
fn error_unclosed_config_string() {
    assert_eq!(
        parse_errors("a :: Counter(1, 2;\nb :: Discard;"),
        [e(
            1,
            13,
            "unclosed '(': this configuration string needs a matching ')'"
        )]
    );
}

#[test]
fn error_unterminated_quote_in_config() {
    assert_eq!(
        parse_errors("Idle -> Print(\"abc) -> Discard;"),
        [e(
            1,
            15,
            "unterminated quote inside a configuration string: add the closing quote"
        )]
    );
}

#[test]
fn error_missing_class_after_colons() {
    assert_eq!(
        parse_errors("a :: ;"),
        [e(
            1,
            6,
            "expected a class name or '{' after 'a ::', found ';'"
        )]
    );
}

#[test]
fn error_missing_element_between_arrows() {
    assert_eq!(
        parse_errors("a -> -> b;"),
        [e(1, 6, "expected an element name or class, found '->'")]
    );
}

#[test]
fn error_port_not_a_number() {
    assert_eq!(
        parse_errors("a [x] -> b;"),
        [e(
            1,
            4,
            "port numbers are non-negative integers, such as [0] or [1]; 'x' is not one"
        )]
    );
}

#[test]
fn error_port_too_large() {
    assert_eq!(
        parse_errors("a [70000] -> b;"),
        [e(
            1,
            4,
            "port number 70000 is too large (the largest is 65535)"
        )]
    );
}

#[test]
fn error_port_list_separator() {
    assert_eq!(
        parse_errors("a [0 1] -> b;"),
        [e(1, 6, "expected ',' or ']' in a port list, found '1'")]
    );
}

#[test]
fn error_elementclass_without_name() {
    assert_eq!(
        parse_errors("elementclass { input -> output }"),
        [e(
            1,
            14,
            "expected a class name after 'elementclass', found '{'"
        )]
    );
}

#[test]
fn error_elementclass_without_body() {
    assert_eq!(
        parse_errors("elementclass X ;"),
        [e(
            1,
            16,
            "expected '{' or an existing class name after 'elementclass X', found ';'"
        )]
    );
}

#[test]
fn error_unclosed_brace() {
    assert_eq!(
        parse_errors("x :: { input -> Counter -> output;\nIdle -> Discard"),
        [e(
            1,
            6,
            "unclosed '{': this compound element needs a matching '}'"
        )]
    );
}

#[test]
fn error_unmatched_closer() {
    assert_eq!(
        parse_errors("a :: Counter; }\nb :: Counter; )"),
        [
            e(1, 15, "unmatched '}': there is no '{' open here; remove it"),
            e(2, 15, "unmatched ')': there is no '(' open here; remove it"),
        ]
    );
}

#[test]
fn error_unclosed_group() {
    assert_eq!(
        parse_errors("a -> ( input -> b -> output"),
        [e(
            1,
            6,
            "unclosed '(': this element group needs a matching ')'"
        )]
    );
}

#[test]
fn error_require_without_parentheses() {
    assert_eq!(
        parse_errors("require fastclassifier;"),
        [e(
            1,
            9,
            "expected '(' after 'require', found 'fastclassifier'"
        )]
    );
}

#[test]
fn error_define_without_dollar() {
    assert_eq!(parse_errors("define($A 1, B 2)"), [e(1, 14, "define expects '$NAME value' pairs, such as define($DEV eth0); 'B 2' does not start with a $NAME")]);
}

#[test]
fn error_formal_separator() {
    assert_eq!(
        parse_errors("elementclass X { $a $b | input -> output }"),
        [e(
            1,
            21,
            "expected ',' or '|' after a compound parameter, found '$b'"
        )]
    );
}

#[test]
fn error_formal_not_a_parameter() {
    assert_eq!(
        parse_errors("elementclass X { $a, KEY | input -> output }"),
        [e(
            1,
            26,
            "expected a parameter such as '$name' in the compound's parameter list, found '|'"
        )]
    );
}

#[test]
fn error_positional_after_keyword_formal() {
    assert_eq!(parse_errors("elementclass X { KEY $k, $a | input -> output }"), [e(1, 26, "positional parameter '$a' comes after a keyword parameter: list positional parameters first")]);
}

#[test]
fn error_rest_not_last() {
    assert_eq!(
        parse_errors("elementclass X { __REST__ $r, $a | input -> output }"),
        [e(
            1,
            31,
            "'__REST__ $var' must be the last parameter: move it to the end of the list"
        )]
    );
}

#[test]
fn error_duplicate_formal() {
    assert_eq!(
        parse_errors("elementclass X { $a, $a | input -> output }"),
        [e(
            1,
            22,
            "parameter '$a' is listed twice: give each parameter its own name"
        )]
    );
}

#[test]
fn error_ellipsis_not_last() {
    assert_eq!(
        parse_errors("elementclass X { input -> output || ... || input -> output }"),
        [e(
            1,
            16,
            "'|| ...' must be the last thing in a compound element: put '}' right after '...'"
        )]
    );
}

#[test]
fn error_dangling_output_port() {
    assert_eq!(parse_errors("a :: Idle;\na -> b [1];"), [e(2, 8, "output port [1] on 'b' is not connected to anything: add '-> element' after it, or remove it")]);
}

#[test]
fn error_useless_input_port() {
    assert_eq!(parse_errors("[1] a -> b;"), [e(1, 1, "input port [1] on 'a' has nothing connected to it: remove it, or put '... ->' before it")]);
}

#[test]
fn error_all_digit_element_name() {
    assert_eq!(parse_errors("1/x :: Counter;"), [e(1, 1, "element name '1/x' has a part made only of digits; names need a letter, such as 'n1/x'")]);
}

#[test]
fn syntax_errors_are_all_reported() {
    let errs = parse_errors("a :: ;\nb -> -> c;\nd [x] -> e;\nelementclass ;\nok :: Counter;\n");
    let lines: Vec<usize> = errs.iter().map(|e| e.0).collect();
    assert_eq!(lines, [1, 2, 3, 4], "{errs:#?}");
}

// ---------------------------------------------------------------- flattening errors

#[test]
fn error_redeclared_element() {
    assert_eq!(one_error("a :: Idle;\na :: Idle;"), e(2, 1, "element 'a' is declared twice in the same scope: rename one of them, or remove the second declaration"));
}

#[test]
fn error_input_at_top_level() {
    assert_eq!(load_errors("input -> Discard;")[0], e(1, 1, "'input' only exists inside a compound element or an element group; at the top level, connect to a real element"));
}

#[test]
fn error_connection_into_input() {
    assert_eq!(
        one_error("InfiniteSource -> { input -> c :: Counter -> output; c [0] -> input } -> Discard"),
        e(1, 63, "'input' cannot receive packets: inside a compound or group, write 'input -> ...', never '... -> input'")
    );
}

#[test]
fn error_connection_out_of_output() {
    let errs = load_errors(
        "InfiniteSource -> { input -> Counter -> output; output -> Discard } -> Discard",
    );
    assert_eq!(errs[0], e(1, 49, "'output' cannot send packets: inside a compound or group, write '... -> output', never 'output -> ...'"));
}

#[test]
fn error_declaring_a_pseudo_element() {
    assert_eq!(one_error("output :: Discard;"), e(1, 1, "'output' cannot be declared: inside compound elements and groups it names the connections to the outside; pick another name"));
}

#[test]
fn error_too_many_compound_arguments() {
    assert_eq!(
        one_error("elementclass P { $a | input -> Print($a) -> output }\nInfiniteSource -> P(1, 2) -> Discard"),
        e(2, 21, "'P' takes 1 positional argument ($a), but 2 were given: remove the extra arguments")
    );
}

#[test]
fn error_too_few_compound_arguments() {
    assert_eq!(
        one_error("elementclass P { $a, $b | input -> Print($a $b) -> output }\nInfiniteSource -> P(1) -> Discard"),
        e(2, 21, "'P' needs a value for $b (1 positional argument given): add the missing arguments")
    );
}

#[test]
fn error_missing_keyword_argument() {
    assert_eq!(
        one_error("elementclass P { COUNT $c | input -> Print($c) -> output }\nInfiniteSource -> p :: P -> Discard"),
        e(2, 19, "'P' needs the COUNT argument: add 'COUNT value' to its arguments")
    );
}

#[test]
fn error_no_overload_matches() {
    assert_eq!(
        load_errors("elementclass P { input -> output || $a | input -> Print($a) -> output }\nInfiniteSource -> P(1, 2) -> Discard")[1],
        e(2, 19, "no definition of 'P' fits this use (1 input connected, 1 output connected, 2 arguments); the definitions are: P() with 1 input and 1 output; P($a) with 1 input and 1 output")
    );
}

#[test]
fn error_compound_port_out_of_range() {
    assert_eq!(
        load_errors("x :: { input -> Counter -> output };\nInfiniteSource -> x -> Discard; InfiniteSource -> [1] x")[0],
        e(1, 1, "'x' (compound class ) has 1 input port, but a connection uses its input [1]: connect to ports 0 to 0 only".replace("'x' (compound class )", "compound element 'x'").as_str())
    );
}

#[test]
fn error_compound_port_gap() {
    let errs = load_errors("elementclass G { input -> Counter -> output; input [2] -> Counter -> output }\nInfiniteSource -> g :: G -> Discard; InfiniteSource -> [2] g");
    assert!(errs.contains(&e(1, 16, "this compound element uses 'input [2]' but not 'input [1]': number its inputs from 0 without gaps")), "{errs:#?}");
}

#[test]
fn error_arrow_between_many_and_many() {
    let errs = load_errors("a, b :: InfiniteSource; c, d :: Discard; a, b -> c, d;");
    assert!(errs.contains(&e(1, 47, "'->' cannot join 2 outputs to 2 inputs; use '=>' to connect them pairwise, or write separate connections")), "{errs:#?}");
}

#[test]
fn error_many_to_many_count_mismatch() {
    let errs =
        load_errors("t :: Tee(2); InfiniteSource -> t; t [0, 1] => Discard, Discard, Discard;");
    assert!(
        errs.contains(&e(
            1,
            44,
            "'=>' needs as many outputs on its left as inputs on its right, but there are 2 and 3"
        )),
        "{errs:#?}"
    );
}

#[test]
fn error_define_twice() {
    assert_eq!(
        one_error("define($a 1); define($a 2);"),
        e(
            1,
            22,
            "parameter '$a' is defined twice in this scope: remove one definition"
        )
    );
}

#[test]
fn error_group_port_unconnected() {
    let errs =
        load_errors("x :: InfiniteSource; y :: Discard; x => [0] ( [0]->[0]; [1]->Discard ) -> y;");
    assert!(errs.contains(&e(1, 41, "input [1] of the element group is not connected from outside: connect it or remove it from the group")), "{errs:#?}");
}

// ---------------------------------------------------------------- check errors

#[test]
fn error_unknown_class_with_suggestion() {
    assert_eq!(
        one_error("InfiniteSource -> Countr -> Discard;"),
        e(
            1,
            19,
            "unknown element class 'Countr'; did you mean 'Counter'?"
        )
    );
    assert_eq!(one_error("InfiniteSource -> counter -> Discard;").2, "undeclared element 'counter': declare it before connecting it, such as 'counter :: Counter;'");
    assert_eq!(
        one_error("InfiniteSource -> Discrad(1) -> Discard;").2,
        "unknown element class 'Discrad'; did you mean 'Discard'?"
    );
}

#[test]
fn error_unknown_class_without_suggestion() {
    assert_eq!(one_error("x :: Frobnicator; InfiniteSource -> x -> Discard").2, "unknown element class 'Frobnicator': check the spelling, or declare it with 'elementclass Frobnicator { ... }'");
}

#[test]
fn error_undeclared_element_with_suggestion() {
    assert_eq!(
        one_error("count :: Counter; InfiniteSource -> count -> cuont -> Discard"),
        e(1, 46, "undeclared element 'cuont'; did you mean 'count'?")
    );
}

#[test]
fn error_port_out_of_range() {
    assert_eq!(
        one_error("c :: Counter; InfiniteSource -> c; c [1] -> Discard; c -> Discard;"),
        e(
            1,
            1,
            "'c' (Counter) has no output [1]: Counter has 1 output; connect from ports 0 to 0 only"
        )
    );
    assert_eq!(
        one_error("d :: Discard; InfiniteSource -> d; InfiniteSource -> [1] d;"),
        e(
            1,
            1,
            "'d' (Discard) has no input [1]: Discard has 1 input; connect to ports 0 to 0 only"
        )
    );
}

#[test]
fn error_unconnected_ports() {
    assert_eq!(load_errors("c :: Counter;"), [
        e(1, 1, "input [0] of 'c' (Counter) is not connected: connect something to 'c [0]'"),
        e(1, 1, "output [0] of 'c' (Counter) is not connected: connect 'c [0]' to something (Discard drops packets)"),
    ]);
    let errs = load_errors("t :: Tee; InfiniteSource -> t; t [0] -> Discard; t [2] -> Discard;");
    assert_eq!(errs, [e(1, 1, "output [1] of 't' (Tee) is not connected: connect 't [1]' to something (Discard drops packets)")]);
}

#[test]
fn error_push_into_pull() {
    assert_eq!(
        one_error("FromDevice(eth0) -> td :: ToDevice(eth1);"),
        e(1, 21, "'FromDevice@1' [0] is a push output but 'td' [0] is a pull input: put a Queue between them (FromDevice@1 -> Queue -> td)")
    );
}

#[test]
fn error_pull_into_push_through_agnostic() {
    assert_eq!(
        one_error("InfiniteSource -> q :: Queue -> c :: Counter -> t :: Tee(1) -> Discard;"),
        e(1, 49, "'c' [0] is a pull output but 't' [0] is a push input (agnostic ports take the mode of the elements around them): nothing would pull packets out of 'c'; connect it to a pull input such as ToDevice, or put an Unqueue between them")
    );
}

#[test]
fn agnostic_elements_take_the_mode_of_their_neighbours() {
    use sluice_config::Processing::{Pull, Push};
    // FromDevice's push output makes the first Counter and Paint push; ToDevice's pull
    // input makes the Counter and Null behind the Queue pull; Idle, alone, is push.
    let g = flat("FromDevice -> Counter -> Paint(1) -> Queue -> Counter -> Null -> ToDevice; Idle");
    let table = classes();
    let codes: Vec<_> = g
        .elements
        .iter()
        .map(|e| {
            table
                .iter()
                .find(|c| c.name == e.class)
                .unwrap()
                .processing
                .clone()
        })
        .collect();
    let ports = sluice_config::resolve_processing(&g, &codes);
    let modes: Vec<(Vec<_>, Vec<_>)> = ports.inputs.into_iter().zip(ports.outputs).collect();
    assert_eq!(
        modes,
        [
            (vec![], vec![Push]),
            (vec![Push], vec![Push]),
            (vec![Push], vec![Push]),
            (vec![Push], vec![Pull]),
            (vec![Pull], vec![Pull]),
            (vec![Pull], vec![Pull]),
            (vec![Pull], vec![]),
            (vec![], vec![]),
        ]
    );
}

#[test]
fn error_push_output_reused() {
    assert_eq!(
        one_error("FromDevice -> c :: Counter; c -> Discard; c -> Discard;"),
        e(1, 15, "push output 'c' [0] is connected 2 times, but a push output feeds exactly one input: use a Tee to copy packets to several places")
    );
}

#[test]
fn error_pull_input_reused() {
    assert_eq!(
        one_error("InfiniteSource -> q1 :: Queue; InfiniteSource -> q2 :: Queue; td :: ToDevice; q1 -> td; q2 -> td;"),
        e(1, 63, "pull input 'td' [0] has 2 connections, but a pull input pulls from exactly one output: merge them with a scheduler such as RoundRobinSched")
    );
}

#[test]
fn outputs_equal_inputs() {
    let errs = load_errors("p :: PaintSwitch; InfiniteSource -> p; p [1] -> Discard; p -> Discard");
    assert_eq!(errs, [e(1, 1, "'p' (PaintSwitch) has no output [1]: PaintSwitch has as many outputs as inputs (1); connect from ports 0 to 0 only")]);
}

#[test]
fn errors_from_every_step_together() {
    let errs = load_errors(
        "a :: Idle; a :: Idle;\nInfiniteSource -> Countr -> Discard;\ninput -> Discard",
    );
    let lines: Vec<usize> = errs.iter().map(|e| e.0).collect();
    // Flattening (line 1, line 3) and checking (line 2, and the Discard left unconnected on line 3).
    assert_eq!(lines, [1, 2, 3, 3], "{errs:#?}");
}

#[test]
fn load_all_hands_back_the_graph_with_its_errors() {
    let src = Source::new("x.click", "Idle -> Countr(1) -> Discard;");
    let (graph, diags) = sluice_config::load_all(&src, &[], &classes());
    let graph = graph.expect("a graph despite the unknown class");
    assert_eq!(graph.elements.len(), 3);
    assert_eq!(graph.elements[1].config, "1");
    assert_eq!(diags.0.len(), 1, "{diags:?}");
    // Syntax errors leave nothing to check further.
    let (graph, diags) =
        sluice_config::load_all(&Source::new("y.click", "a :: ;"), &[], &classes());
    assert!(graph.is_none() && !diags.is_empty());
}

#[test]
fn rendering_names_file_line_and_column() {
    let src = Source::new(
        "fw.click",
        "src :: InfiniteSource;\nsrc -> Countr -> Discard;\n",
    );
    let d = sluice_config::load(&src, &[], &classes()).unwrap_err();
    assert_eq!(
        d.render(&[src]),
        "fw.click:2:8: error: unknown element class 'Countr'; did you mean 'Counter'?\n    2 | src -> Countr -> Discard;\n      |        ^^^^^^\n"
    );
}
