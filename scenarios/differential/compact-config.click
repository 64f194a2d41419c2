// Click's element order and naming after flattening (a body's own elements, then its
// compounds' bodies; a group counts as three anonymous slots), overloaded compounds, and
// the `config` handler under require(compact_config): the router printed back, its
// connections drawn as chains.
require(compact_config)

elementclass Leaf { input -> z :: Null -> output }
elementclass Mid { input -> x :: Null -> Leaf -> y :: Null -> output }
elementclass Top { $tag | input -> a :: Counter -> Mid -> Print($tag, 8) -> output }
elementclass Foo {
   $a, $b | input -> Print(1) -> output
|| $a, __REST__ $b | input -> Print(2) -> output
|| $a, TWO $b, __REST__ $c | input -> Print(3) -> output
}

s :: InfiniteSource(LIMIT 2, STOP false) -> t :: Tee(3);
t [0] -> one :: Top(first) -> ( input -> Counter -> ( input -> Null -> output ) -> output ) -> d :: Discard;
t [1] -> q :: Queue -> u :: Unqueue -> Foo(A) -> f :: Foo(A, TWO B) -> m :: PaintSwitch;
t [2] -> Paint(1) -> Top(second) -> m;
m [0] -> c2 :: Counter -> d;
m [1] -> Foo(A, B, C) -> d;
i :: Idle -> n1 :: Null -> n2 :: Null -> n1;
i [1] -> Discard;

Script(read list, read config, stop);
