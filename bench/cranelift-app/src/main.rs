//! A small ahead-of-time compiler: builds `add(a, b) = a + b` with Cranelift (wasmtime's code
//! generator) and writes it as an object file. memsafe's benchmark builds it as a heavy
//! project: cranelift-codegen's generated instruction selectors make large compilations.

use cranelift_codegen::ir::{AbiParam, InstBuilder, types};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_module::{Linkage, Module};
use cranelift_object::{ObjectBuilder, ObjectModule};

fn compile() -> Vec<u8> {
    let mut flags = settings::builder();
    flags.set("opt_level", "speed").unwrap();
    let isa = cranelift_native::builder()
        .unwrap()
        .finish(settings::Flags::new(flags))
        .unwrap();
    let builder = ObjectBuilder::new(isa, "add", cranelift_module::default_libcall_names()).unwrap();
    let mut module = ObjectModule::new(builder);
    let mut ctx = module.make_context();
    for _ in 0..2 {
        ctx.func.signature.params.push(AbiParam::new(types::I64));
    }
    ctx.func.signature.returns.push(AbiParam::new(types::I64));
    let mut function_context = FunctionBuilderContext::new();
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut function_context);
        let block = b.create_block();
        b.append_block_params_for_function_params(block);
        b.switch_to_block(block);
        b.seal_block(block);
        let (x, y) = (b.block_params(block)[0], b.block_params(block)[1]);
        let sum = b.ins().iadd(x, y);
        b.ins().return_(&[sum]);
        b.finalize();
    }
    let id = module
        .declare_function("add", Linkage::Export, &ctx.func.signature)
        .unwrap();
    module.define_function(id, &mut ctx).unwrap();
    module.finish().emit().unwrap()
}

fn main() {
    std::fs::write("add.o", compile()).unwrap();
}

#[cfg(test)]
mod tests {
    #[test]
    fn compiles_an_object_file() {
        assert!(super::compile().len() > 100);
    }
}
