use rhai::*;
fn main() {
    let mut e = Engine::new_raw();
    e.on_parse_token(|tok, _pos, _state| match tok {
        Token::Reserved(s) if &*s == "default" => Token::Identifier(s),
        t => t,
    });
    e.register_fn("default", |x: Dynamic| x);
    for s in ["#{ default: 1 }", "default(3)", "let m = #{default:1}; m.default", "#{\"default\": 2}", "let f = |x| default(x); f.call(5)"] {
        println!("{s} => {:?}", e.eval::<Dynamic>(s));
    }
    let mut res = rhai::module_resolvers::StaticModuleResolver::new();
    let mut m = Module::new(); m.set_native_fn("addr", |x: i64| Ok(x+1)); 
    res.insert("site", m);
    e.set_module_resolver(res);
    let ast = e.compile(r#"import "site" as site; let k = 10; #{ config: |cfg| site::addr(cfg + k) }"#).unwrap();
    let v: Map = e.eval_ast(&ast).unwrap();
    let f = v["config"].clone().cast::<FnPtr>();
    let mut args: Vec<Dynamic> = f.curry().to_vec(); args.push(Dynamic::from(1_i64));
    let mut scope = Scope::new();
    println!("call_fn: {:?}", e.call_fn::<Dynamic>(&mut scope, &ast, f.fn_name(), args));
}
